"""Re-keying: when an identifier rule changes, events already correlated move to the right keys.

An operator typically adds a rule after seeing that the supplier portal spells `PO-4500012345`
where the ERP says `4500012345`: the portal's confirmations sit in orphan traces until then.
`identifiers_rekey` re-normalises the identifiers of every event the rule can affect, moves
their `EventObject`s to the new keys, removes links and traces nothing supports any more, and
refreshes every trace on either side, so the result is what correlating those events for the
first time under the new rules would give.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from controltower.traces.identifiers import PO_LINE, PURCHASE_ORDER, identifier_rules_load
from controltower.traces.models import BusinessObject, EventObject, ObjectLink, Trace
from controltower.traces.services.announcing import trace_changed_announce
from controltower.traces.services.correlation import (
    event_objects_insert,
    graph_lock,
    identifiers_of,
    links_insert,
    normalised_keys,
    objects_upsert,
)
from controltower.traces.services.graph import Graph, chunks, roots_reaching
from controltower.traces.services.membership import traces_refresh
from integrations.models import EventIdentifier

logger = logging.getLogger(__name__)

REKEY_CHUNK = 1_000


def identifiers_rekey(*, kind: str, system_id: int | None, chunk_size: int = REKEY_CHUNK) -> int:
    """Re-correlate the events whose `kind` identifiers a rule for (`system_id`, `kind`) covers
    (every system's when `system_id` is None; `purchase_order` rules also cover PO lines).

    Guarantees: per chunk of events, in one transaction under correlation's lock, each event
    names exactly the objects its identifiers normalise to under the current rules; links no
    event supports are deleted; traces whose root no event names any more are deleted; every
    trace reaching an object on either side is refreshed (membership, aggregates, milestones).
    Idempotent: a second run finds nothing to move. Returns how many events changed keys.
    """
    kinds = [kind, PO_LINE] if kind == PURCHASE_ORDER else [kind]
    naming = EventIdentifier.objects.filter(kind__in=kinds)
    if system_id is not None:
        naming = naming.filter(event__system_id=system_id)
    event_ids = sorted(set(naming.values_list("event_id", flat=True)))
    moved = 0
    for chunk in chunks(event_ids, chunk_size):
        moved += _rekey_chunk(chunk)
    if moved:
        logger.info("traces: %d event(s) re-keyed after a %s rule change", moved, kind)
    return moved


def _rekey_chunk(event_ids: list[int]) -> int:
    with transaction.atomic():
        graph_lock()
        systems, named = identifiers_of(event_ids)
        keys = normalised_keys(named, systems=systems, rules=identifier_rules_load())
        wanted_objects = objects_upsert({pair for pairs in keys.values() for pair in pairs})
        wanted = {e: {wanted_objects[pair] for pair in keys.get(e, ())} for e in systems}
        current: dict[int, set[int]] = defaultdict(set)
        for event_id, object_id in EventObject.objects.filter(event_id__in=event_ids).values_list(
            "event_id", "object_id"
        ):
            current[event_id].add(object_id)
        changed = {e for e in systems if wanted[e] != current[e]}
        if not changed:
            return 0
        before = Graph()
        dropped = {o for e in changed for o in current[e] - wanted[e]}
        roots = roots_reaching(before, objects=dropped)  # walked while the old links still stand
        for event_id in changed:
            EventObject.objects.filter(
                event_id=event_id, object_id__in=current[event_id] - wanted[event_id]
            ).delete()
        graph = Graph()
        graph.remember(wanted_objects)
        added = {e: wanted[e] for e in changed}
        event_objects_insert(added)
        links_insert(added, graph=graph)
        _unsupported_links_delete(dropped)
        orphans = _orphan_roots_delete(dropped)
        graph = Graph()  # the links changed: walk afresh
        roots = (roots - orphans) | roots_reaching(graph, objects={o for e in changed for o in wanted[e]})
        traces_refresh(graph=graph, roots=roots)
    return len(changed)


def _unsupported_links_delete(objects: set[int]) -> None:
    """Delete links touching `objects` that no event names both ends of any more."""
    for chunk in chunks(objects):
        touching = ObjectLink.objects.filter(Q(low_id__in=chunk) | Q(high_id__in=chunk))
        both_named = EventObject.objects.filter(
            object_id=OuterRef("low_id"),
            event_id__in=EventObject.objects.filter(object_id=OuterRef(OuterRef("high_id"))).values(
                "event_id"
            ),
        )
        touching.filter(~Exists(both_named)).delete()


def _orphan_roots_delete(objects: set[int]) -> set[int]:
    """Delete objects among `objects` that no event names any more, with their traces (a PO
    spelled `PO-…` was an object of its own until the rule); returns the deleted ids."""
    orphans: set[int] = set()
    for chunk in chunks(objects):
        unnamed = BusinessObject.objects.filter(id__in=chunk).filter(
            ~Exists(EventObject.objects.filter(object_id=OuterRef("pk")))
        )
        orphans.update(unnamed.values_list("id", flat=True))
    for chunk in chunks(orphans):
        doomed = Trace.objects.filter(root_id__in=chunk)
        for pk, plant_id, supplier_id in doomed.values_list("pk", "plant_id", "supplier_id"):
            trace_changed_announce(trace_id=pk, plant_id=plant_id, supplier_id=supplier_id)  # gone
        doomed.delete()
        ObjectLink.objects.filter(Q(low_id__in=chunk) | Q(high_id__in=chunk)).delete()
        BusinessObject.objects.filter(id__in=chunk).delete()
    return orphans
