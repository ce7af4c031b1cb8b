"""Write a trace-benchmark plan into the real tables, as intake and correlation would have.

Correlating 1M events through `correlate_events` takes hours; this writes the same rows in
minutes. `seed(specs, …)` streams one `COPY … FROM STDIN` per table (each on its own
connection, foreign-key triggers off for the load, secondary indexes dropped and rebuilt after)
and computes in memory what correlation computes: identifiers with the contract's
`extract_identifiers`, object keys with `normalize_identifier` and the configured rules, links
between the objects one event names (never root–root or line–line), trace membership, and trace
aggregates. Milestones and trace states are then written by the real
`trace_milestones_evaluate`. `python bench/traces.py --check` replays `correlate_events` over
a sample and reports any row it would change.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import psycopg

from bench.traces_db import indexes_create, indexes_drop, sequences_reset, vacuum_analyze
from bench.traces_events import event_data
from bench.traces_plan import ERP, MIDDLEWARE, TMS, Spec, iso, system_of, traces_of
from controltower.traces.identifiers import RuleBook, normalize_identifier
from controltower.traces.models import (
    CORRELATING_KINDS,
    ROOT_FLOWS,
    BusinessObject,
    CorrelatedEvent,
    EventObject,
    ObjectLink,
    Trace,
    TraceEvent,
    TraceMilestone,
)
from integrations.contracts import contract_get, extract_identifiers, validate_data
from integrations.models import Event, EventIdentifier, RejectedIdentifier, RejectedMessage

# What each stream writes (model, fields); ids of rows nothing references come from the table.
STREAMS = {
    "event": (Event, "id system source event_id type version subject event_time received_at mode attributes "
                     "data plant supplier".split()),
    "identifier": (EventIdentifier, ["event", "kind", "value"]),
    "object": (BusinessObject, ["id", "kind", "key"]),
    "event_object": (EventObject, ["event", "object"]),
    "link": (ObjectLink, ["low", "high"]),
    "member": (TraceEvent, ["trace", "event"]),
    "correlated": (CorrelatedEvent, ["event", "correlated_at"]),
    "trace": (Trace, "id flow root plant supplier first_event_at last_event_at event_count created_at "
                     "updated_at state next_due_at state_reason".split()),
}  # fmt: skip
STREAM_TYPES = (
    "purchase_order.released",
    "supplier.confirmation",
    "shipment.dispatched",
    "shipment.milestone",
    "goods.received",
    "erp.posting",
    "integration.telemetry",
)
MODES = {ERP: "batch", TMS: "batch", MIDDLEWARE: "batch"}  # the portal and the WMSs post one by one
PURCHASE_ORDER, PO_LINE = "purchase_order", "po_line"
REJECTED_SHARE = 0.003
# The business time each type carries in data; a refused copy spells it "yesterday".
TIME_FIELDS = {
    "purchase_order.released": "released_at",
    "supplier.confirmation": "confirmed_at",
    "shipment.dispatched": "dispatched_at",
    "shipment.milestone": "occurred_at",
    "goods.received": "received_at",
    "erp.posting": "posted_at",
    "integration.telemetry": "occurred_at",
}
MILESTONE_CHUNK = 2_000
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Network:
    """Database ids of the seeded network, by code."""

    systems: dict[str, int]
    plants: dict[str, int]
    suppliers: dict[str, int]


@dataclass(slots=True)
class _TraceFacts:
    """What correlation's aggregates would say of one trace, accumulated event by event."""

    id: int
    po: str
    first: datetime
    last: datetime
    created: datetime
    updated: datetime
    count: int = 0
    # (business time, event id, partner id) of the earliest event naming the root with a partner
    plant: tuple = (None, None, None)
    supplier: tuple = (None, None, None)

    def add(self, at: datetime, received: datetime) -> int:
        """Count one more member event; returns the trace id."""
        self.count += 1
        self.first, self.last = min(self.first, at), max(self.last, at)
        self.created, self.updated = min(self.created, received), max(self.updated, received)
        return self.id

    def named_root(self, at: datetime, pk: int, plant: int | None, supplier: int | None) -> None:
        """The earliest event naming the root sets plant and supplier (`membership._compute`)."""
        if plant is not None and (self.plant[0] is None or (at, pk) < self.plant[:2]):
            self.plant = (at, pk, plant)
        if supplier is not None and (self.supplier[0] is None or (at, pk) < self.supplier[:2]):
            self.supplier = (at, pk, supplier)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- the load ----------------------------------------------------------------------------------
class Streams:
    """One `COPY … FROM STDIN` per table, each on its own connection and transaction, so
    PostgreSQL parses every table's rows while Python builds them. All commit on a clean exit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stack = ExitStack()
        self.write: dict[str, Callable[[tuple], None]] = {}

    def __enter__(self) -> Streams:
        for name, (model, fields) in STREAMS.items():
            conn = self.stack.enter_context(psycopg.connect(self.url))
            conn.execute("SET session_replication_role = replica")  # no FK triggers mid-load
            columns = ", ".join(model._meta.get_field(f).column for f in fields)
            cursor = self.stack.enter_context(conn.cursor())
            copy = self.stack.enter_context(
                cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN')
            )
            self.write[name] = copy.write_row
        return self

    def __exit__(self, *exc) -> None:
        self.stack.__exit__(*exc)


@dataclass
class Seeder:
    """Turns specs, in arrival order, into the rows intake and correlation write."""

    network: Network
    rules: RuleBook
    objects: dict[tuple[str, str], int] = field(default_factory=dict)
    links: set[int] = field(default_factory=set)
    traces: dict[str, _TraceFacts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.contracts = {t: contract_get(t) for t in STREAM_TYPES}

    def event(self, pk: int, spec: Spec, write: dict[str, Callable[[tuple], None]]) -> None:
        """Write event `pk` with its identifiers, objects, memberships and correlation mark."""
        data, contract = event_data(spec), self.contracts[spec.type]
        row = self.event_row(pk, spec, data, version=contract.version)
        write["event"](row)
        at, received, plant, supplier = row[7], row[8], row[12], row[13]  # event_time, received_at, …
        named = extract_identifiers(contract, data)
        for kind, value in named:
            write["identifier"]((pk, kind, value[:255]))
        objects = self.objects_of(named, system=row[1], write=write)
        for object_id, _kind, _key in objects:
            write["event_object"]((pk, object_id))
        self.link(objects)
        for _id, kind, key in objects:
            if kind == PURCHASE_ORDER:
                self.trace_of(key, at, received).named_root(at, pk, plant, supplier)
        for order in traces_of(spec):
            write["member"]((self.trace_of(order.po, at, received).add(at, received), pk))
        write["correlated"]((pk, _dt(spec.received + 1.5)))

    def event_row(self, pk: int, spec: Spec, data: dict, *, version: int) -> tuple:
        """The `Event` row as intake stores it (STREAMS["event"] order): CloudEvents context as
        attributes, plant and supplier resolved from the codes in data, else the system's own."""
        source = system_of(spec)
        attributes = {
            "specversion": "1.0",
            "id": spec.cloud_id,
            "source": source,
            "type": spec.type,
            "datacontenttype": "application/json",
            "time": iso(spec.at),
        }
        return (
            pk, self.network.systems[source], source, spec.cloud_id, spec.type, version, "", _dt(spec.at),
            _dt(spec.received), MODES.get(source, "structured"), json.dumps(attributes), json.dumps(data),
            self.network.plants.get(data.get("plant")), self.network.suppliers.get(data.get("supplier")),
        )  # fmt: skip

    def objects_of(self, named: list[tuple[str, str]], *, system: int, write) -> list[tuple[int, str, str]]:
        """(id, kind, key) of the objects the event names, as `correlate_events` normalises
        them; objects seen for the first time are written."""
        keys = {}
        for kind, value in named:
            if kind in CORRELATING_KINDS:
                key = normalize_identifier(kind=kind, value=value, system_id=system, rules=self.rules)
                if key:
                    keys[(kind, key[:255])] = None
        found = []
        for kind_key in keys:
            object_id = self.objects.get(kind_key)
            if object_id is None:
                object_id = self.objects[kind_key] = len(self.objects) + 1
                write["object"]((object_id, *kind_key))
            found.append((object_id, *kind_key))
        return found

    def link(self, objects: list[tuple[int, str, str]]) -> None:
        """Edges between the objects one event names, as correlation's `_links` draws them."""
        ordered = sorted(objects)
        for i, (low, low_kind, _) in enumerate(ordered):
            for high, high_kind, _ in ordered[i + 1 :]:
                if low_kind in ROOT_FLOWS and high_kind in ROOT_FLOWS:
                    continue
                if low_kind == PO_LINE and high_kind == PO_LINE:
                    continue
                self.links.add(low << 32 | high)

    def trace_of(self, po: str, at: datetime, received: datetime) -> _TraceFacts:
        facts = self.traces.get(po)
        if facts is None:
            facts = self.traces[po] = _TraceFacts(len(self.traces) + 1, po, at, at, received, received)
        return facts

    def finish(self, write: dict[str, Callable[[tuple], None]]) -> None:
        """Write the links and the trace rows (aggregates as `traces_refresh` computes them)."""
        for edge in sorted(self.links):
            write["link"]((edge >> 32, edge & 0xFFFFFFFF))
        for facts in self.traces.values():
            root = self.objects[(PURCHASE_ORDER, facts.po)]
            write["trace"](
                (facts.id, ROOT_FLOWS[PURCHASE_ORDER], root, facts.plant[2], facts.supplier[2], facts.first,
                 facts.last, facts.count, facts.created, facts.updated, Trace.State.ON_TRACK.value, None, "{}")
            )  # fmt: skip


def contracts_check(specs: list[Spec], *, per_type: int = 50) -> None:
    """Refuse to seed data the contracts would refuse: validate `per_type` events of each type."""
    seen: dict[str, int] = {}
    for spec in specs:
        if seen.get(spec.type, 0) >= per_type:
            continue
        seen[spec.type] = seen.get(spec.type, 0) + 1
        errors = validate_data(contract_get(spec.type), event_data(spec))
        if errors:
            raise SystemExit(f"bench data for {spec.type} breaks its contract: {errors[0]}")


def load(url: str, specs: list[Spec], seeder: Seeder, progress: Progress) -> None:
    """COPY every row of `specs` (sorted by arrival here: ids follow arrival, as intake's do)."""
    specs.sort(key=lambda s: s.received)
    started = time.perf_counter()
    with Streams(url) as streams:
        for pk, spec in enumerate(specs, 1):
            seeder.event(pk, spec, streams.write)
            if pk % 100_000 == 0:
                progress(f"  {pk:,} events written ({pk / (time.perf_counter() - started):,.0f}/s)")
        seeder.finish(streams.write)
        progress("  committing the streams")


def _evaluate(ids: list[int], now: datetime) -> int:
    from controltower.traces.services.milestones import trace_milestones_evaluate

    trace_milestones_evaluate(traces=list(Trace.objects.filter(id__in=ids)), now=now)
    return len(ids)


def milestones_evaluate(*, now: datetime, progress: Progress, workers: int = 2) -> None:
    """Milestones, state and next deadline of every trace, by the real evaluation at `now`,
    in `workers` forked processes (it is mostly Python: the ORM's bulk_update)."""
    from django.db import connections

    ids = list(Trace.objects.order_by("id").values_list("id", flat=True))
    chunks = [ids[start : start + MILESTONE_CHUNK] for start in range(0, len(ids), MILESTONE_CHUNK)]
    connections.close_all()  # each process opens its own
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        done = 0
        for count in pool.imap_unordered(partial(_evaluate, now=now), chunks):
            if (done + count) // 20_000 > done // 20_000:
                progress(f"  milestones of {done + count:,} traces evaluated")
            done += count


def seed(
    url: str,
    specs: list[Spec],
    *,
    network: Network,
    rules: RuleBook,
    rng_seed: int,
    now: float,
    progress: Progress,
) -> dict[str, float]:
    """Write `specs` and everything correlation derives from them into the empty tables at
    `url`; returns seconds per phase. Raises (leaving the database unmarked) on any failure."""
    timings: dict[str, float] = {}
    contracts_check(specs)
    deferred = indexes_drop(url, [model._meta.db_table for model, _ in STREAMS.values()])
    seeder = Seeder(network=network, rules=rules)
    timings["copy"] = _timed(lambda: load(url, specs, seeder, progress))
    progress(f"  rebuilding {len(deferred)} indexes")
    timings["indexes"] = _timed(lambda: indexes_create(url, deferred))
    sequences_reset(url, [Event, BusinessObject, Trace])
    timings["vacuum"] = _timed(lambda: vacuum_analyze(url, [m for m, _ in STREAMS.values()]))
    progress(f"  evaluating milestones of {len(seeder.traces):,} traces")
    timings["milestones"] = _timed(lambda: milestones_evaluate(now=_dt(now), progress=progress))
    timings["rejected"] = _timed(lambda: rejected_seed(specs, network=network, rng_seed=rng_seed))
    later = [Trace, TraceMilestone, RejectedMessage, RejectedIdentifier]
    timings["vacuum"] += _timed(lambda: vacuum_analyze(url, later))
    return timings


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def rejected_seed(specs: list[Spec], *, network: Network, rng_seed: int) -> int:
    """Refused copies of REJECTED_SHARE of the events (a business time spelled "yesterday"),
    stored by the real `rejected_message_record` with the identifiers it reads from the body and
    the errors the contract gives, received a minute before the accepted copy. Returns how many."""
    from django.db import transaction

    from integrations.models import SourceSystem
    from integrations.services.rejections import rejected_message_record

    rng = random.Random(rng_seed)
    systems = {system.code: system for system in SourceSystem.objects.all()}
    stored = []
    with transaction.atomic():
        for spec in (s for s in specs if rng.random() < REJECTED_SHARE):
            data = event_data(spec)
            data[TIME_FIELDS[spec.type]] = "yesterday"
            source = system_of(spec)
            body = {
                "specversion": "1.0",
                "id": spec.cloud_id,
                "source": source,
                "type": spec.type,
                "time": iso(spec.at),
                "datacontenttype": "application/json",
                "data": data,
            }
            rejected = rejected_message_record(
                system=systems[source],
                endpoint="/api/v1/events",
                content_type="application/cloudevents+json",
                headers={"Content-Type": "application/cloudevents+json", "Authorization": "[redacted]"},
                body=json.dumps(body).encode(),
                status_code=400,
                problem_type="validation-error",
                errors=validate_data(contract_get(spec.type), data),
                source=source,
                event_id=spec.cloud_id,
                type=spec.type,
                plant_id=network.plants.get(data.get("plant")),
                supplier_id=network.suppliers.get(data.get("supplier")),
            )
            rejected.received_at = _dt(spec.received - 60)
            stored.append(rejected)
        RejectedMessage.objects.bulk_update(stored, ["received_at"], batch_size=1_000)
    return len(stored)
