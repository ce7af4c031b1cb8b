"""Correlation: events → business objects → links → traces.

`correlate_events` is the one writer of the correlation graph and of traces. It is called by
the `controltower.traces.correlate` task (after intake commits) and by the sweeper for events
that task never reached.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from itertools import combinations

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from controltower.traces.identifiers import RuleBook, identifier_rules_load, normalize_identifier
from controltower.traces.models import (
    CORRELATING_KINDS,
    ROOT_FLOWS,
    BusinessObject,
    CorrelatedEvent,
    EventObject,
    ObjectLink,
)
from controltower.traces.services.graph import PO_LINE, Graph, chunks, roots_reaching
from controltower.traces.services.membership import traces_refresh
from integrations.models import Event, EventIdentifier

logger = logging.getLogger(__name__)

# Any constant will do; it only has to be the same for every worker (see `graph_lock`).
_ADVISORY_LOCK_KEY = 0x7472616365  # "trace"
PENDING_CHUNK = 500
PENDING_MAX_CHUNKS = 20
# An event received this long ago has committed (requests and transactions are far shorter),
# so the sweeper may skip it for good once it is correlated.
SWEEP_SETTLE = timedelta(minutes=10)
_SWEEP_FROM_KEY = "traces:sweep-from-id"


def correlate_events(*, event_ids: list[int]) -> set[int]:
    """Join `event_ids` into traces; returns the ids of the traces that may have changed.

    Guarantees, in ONE transaction:
    - every correlating identifier of each event is normalised (`IdentifierRule`s, loaded once)
      and stored as a `BusinessObject` named by the event (`EventObject`), and objects named by
      the same event are linked (`ObjectLink`), except two roots, or two PO lines (see `_links`);
    - every root the new objects can reach has a `Trace` whose membership (`TraceEvent`) and
      aggregates match the graph — so arrival order does not matter: an event stored before the
      event linking it to its root joins the trace when that event is correlated;
    - each existing event is marked `CorrelatedEvent`; unknown ids are skipped;
    - idempotent: a repeat (same ids, or overlapping, or concurrent) writes nothing new.
    """
    ids = sorted(set(event_ids))
    if not ids:
        return set()
    with transaction.atomic():
        graph_lock()
        systems, named = identifiers_of(ids)
        if not systems:
            return set()
        rules = identifier_rules_load()
        keys = normalised_keys(named, systems=systems, rules=rules)
        objects = objects_upsert({kind_key for pairs in keys.values() for kind_key in pairs})
        event_objects = {event_id: {objects[k] for k in pairs} for event_id, pairs in keys.items()}
        graph = Graph()
        graph.remember(objects)
        event_objects_insert(event_objects)
        links_insert(event_objects, graph=graph)
        roots = roots_reaching(graph, objects=objects.values())
        trace_ids = traces_refresh(graph=graph, roots=roots)
        CorrelatedEvent.objects.bulk_create(
            [CorrelatedEvent(event_id=pk) for pk in sorted(systems)], ignore_conflicts=True, batch_size=2_000
        )
    return trace_ids


def events_correlate_pending(*, chunk_size: int = PENDING_CHUNK, max_chunks: int = PENDING_MAX_CHUNKS) -> int:
    """Correlate events that have no `CorrelatedEvent` yet, oldest (lowest id) first.

    One transaction per chunk, so a run that is stopped keeps what it finished; at most
    `max_chunks` chunks per run, so one run stays inside the task time limit and a backlog is
    worked off over several runs. Each run starts from a remembered id (see `_sweep_start`),
    so a sweep reads the last minutes of events, not the whole table. Returns how many events
    were correlated.
    """
    start = _sweep_start()
    # Read before scanning: events committed during the scan are left for the next run.
    settled = (
        Event.objects.filter(received_at__lt=timezone.now() - SWEEP_SETTLE)
        .order_by("-received_at")
        .values_list("id", flat=True)
        .first()
    )
    done, left = 0, None
    for _ in range(max_chunks):
        pending = list(
            Event.objects.filter(id__gte=start)
            .filter(~Exists(CorrelatedEvent.objects.filter(event_id=OuterRef("pk"))))
            .order_by("id")
            .values_list("id", flat=True)[:chunk_size]
        )
        if not pending:
            break
        correlate_events(event_ids=pending)
        done += len(pending)
        left = pending[-1] + 1
        if len(pending) < chunk_size:
            left = None
            break
    if left is None and settled is not None:
        left = settled + 1  # everything below was committed long ago and is correlated
    if left is not None and left > start:
        cache.set(_SWEEP_FROM_KEY, left, timeout=None)
    if done:
        logger.info("traces: correlated %d pending event(s)", done)
    return done


def _sweep_start() -> int:
    """The id below which every event is known correlated (0 when unknown, or when the table
    was restored or emptied below it)."""
    start = cache.get(_SWEEP_FROM_KEY, 0)
    if start and not Event.objects.filter(id__gte=start - 1).exists():
        return 0
    return start


def graph_lock() -> None:
    """Let one correlation transaction at a time change the graph (PostgreSQL).

    Two workers correlating related events at once could each miss the other's uncommitted rows:
    the ASN links the shipment to the PO while a milestone naming only the shipment arrives;
    neither transaction sees both, and the milestone would never join the PO's trace. A
    transaction-scoped advisory lock taken before the first read makes every transaction see all
    earlier ones (READ COMMITTED reads what committed before each statement). SQLite needs
    nothing: its transactions are IMMEDIATE (settings), so writers already queue at BEGIN.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])


def identifiers_of(ids: list[int]) -> tuple[dict[int, int], dict[int, list[tuple[str, str]]]]:
    """{event id: system id} for events that exist, and their correlating (kind, value) pairs."""
    systems: dict[int, int] = {}
    named: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for chunk in chunks(ids):
        systems.update(Event.objects.filter(id__in=chunk).values_list("id", "system_id"))
        rows = EventIdentifier.objects.filter(event_id__in=chunk, kind__in=CORRELATING_KINDS).values_list(
            "event_id", "kind", "value"
        )
        for event_id, kind, value in rows:
            named[event_id].append((kind, value))
    return systems, named


def normalised_keys(
    named: dict[int, list[tuple[str, str]]], *, systems: dict[int, int], rules: RuleBook
) -> dict[int, set[tuple[str, str]]]:
    keys: dict[int, set[tuple[str, str]]] = {}
    for event_id, pairs in named.items():
        found = set()
        for kind, value in pairs:
            key = normalize_identifier(kind=kind, value=value, system_id=systems[event_id], rules=rules)
            if key:
                found.add((kind, key[:255]))
        keys[event_id] = found
    return keys


def objects_upsert(kind_keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of the objects, creating the missing ones (insert-or-skip, then re-read, so a
    concurrent worker creating the same object is not an error)."""
    if not kind_keys:
        return {}
    BusinessObject.objects.bulk_create(
        [BusinessObject(kind=kind, key=key) for kind, key in sorted(kind_keys)],
        ignore_conflicts=True,
        batch_size=2_000,
    )
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, key in kind_keys:
        by_kind[kind].append(key)
    ids = {}
    for kind, keys in by_kind.items():
        for start in range(0, len(keys), 2_000):
            rows = BusinessObject.objects.filter(kind=kind, key__in=keys[start : start + 2_000])
            ids.update({(kind, key): pk for pk, key in rows.values_list("id", "key")})
    return ids


def event_objects_insert(event_objects: dict[int, set[int]]) -> None:
    EventObject.objects.bulk_create(
        [
            EventObject(event_id=event_id, object_id=object_id)
            for event_id, objects in sorted(event_objects.items())
            for object_id in sorted(objects)
        ],
        ignore_conflicts=True,
        batch_size=2_000,
    )


def _links(objects: set[int], *, graph: Graph) -> set[tuple[int, int]]:
    """Edges between the objects one event names, as (low, high).

    Two roots are never linked: an ASN for two POs makes each PO a neighbour of the shipment,
    not of the other PO. Two PO lines are not linked either (a refinement of the design): an
    ASN with 300 lines would otherwise add ~45,000 edges that connect nothing new, since every
    contract naming a line also names its PO and the lines reach each other through it.
    """
    pairs = set()
    for low, high in combinations(sorted(objects), 2):
        low_kind, high_kind = graph.info[low][0], graph.info[high][0]
        if low_kind in ROOT_FLOWS and high_kind in ROOT_FLOWS:
            continue
        if low_kind == PO_LINE and high_kind == PO_LINE:
            continue
        pairs.add((low, high))
    return pairs


def links_insert(event_objects: dict[int, set[int]], *, graph: Graph) -> None:
    edges = set().union(*(_links(objects, graph=graph) for objects in event_objects.values()))
    ObjectLink.objects.bulk_create(
        [ObjectLink(low_id=low, high_id=high) for low, high in sorted(edges)],
        ignore_conflicts=True,
        batch_size=2_000,
    )
