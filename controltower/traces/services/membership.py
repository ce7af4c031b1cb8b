"""Trace rows and their membership, recomputed from the correlation graph.

Called by `correlate_events` inside its transaction for the roots a batch may have changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from controltower.traces.models import ROOT_FLOWS, EventObject, Trace, TraceEvent
from controltower.traces.services.announcing import trace_changed_announce
from controltower.traces.services.graph import Graph, chunks, trace_objects
from controltower.traces.services.milestones import trace_milestones_evaluate
from integrations.models import Event


@dataclass(frozen=True)
class _EventFacts:
    at: datetime  # event_time, or received_at for events that carry no time
    plant_id: int | None
    supplier_id: int | None


@dataclass
class _Computed:
    root: int
    flow: str
    events: set[int]
    plant_id: int | None
    supplier_id: int | None
    first_event_at: datetime | None
    last_event_at: datetime | None

    def fields(self) -> dict:
        return {
            "plant_id": self.plant_id,
            "supplier_id": self.supplier_id,
            "first_event_at": self.first_event_at,
            "last_event_at": self.last_event_at,
            "event_count": len(self.events),
        }


def traces_refresh(*, graph: Graph, roots: Iterable[int]) -> set[int]:
    """Ensure a `Trace` per root and make its membership and aggregates match the graph.

    Guarantees: a trace's events are exactly the events naming an object its root's walk spans
    (see `graph.trace_objects`); aggregates follow from those events; rows are written only when
    they differ, so a repeat changes nothing (not even `updated_at`); milestones and state are
    re-evaluated (`trace_milestones_evaluate`). A trace created, or whose aggregates or members
    were written, is announced (`TRACE_CHANGED`); a repeat announces nothing. Returns the trace ids.
    """
    roots = sorted(set(roots))
    if not roots:
        return set()
    spans = trace_objects(graph, roots=roots)
    events_of = _events_by_object(set().union(*spans.values()))
    facts = _event_facts({e for events in events_of.values() for e in events})
    computed = [
        _compute(root, graph=graph, span=spans[root], events_of=events_of, facts=facts) for root in roots
    ]
    traces, created = _traces_ensure(computed)
    moved = _aggregates_write(computed, traces)
    regrouped = _members_write(computed, traces)
    for trace in traces.values():
        if trace.pk in created or trace.pk in moved or trace.pk in regrouped:
            trace_changed_announce(
                trace_id=trace.pk,
                plant_id=trace.plant_id,
                supplier_id=trace.supplier_id,
                before=moved.get(trace.pk, (None, None)),
            )
    trace_milestones_evaluate(traces=traces.values())
    return {trace.pk for trace in traces.values()}


def _events_by_object(objects: set[int]) -> dict[int, set[int]]:
    events_of: dict[int, set[int]] = defaultdict(set)
    for chunk in chunks(objects):
        rows = EventObject.objects.filter(object_id__in=chunk).values_list("object_id", "event_id")
        for object_id, event_id in rows:
            events_of[object_id].add(event_id)
    return events_of


def _event_facts(event_ids: set[int]) -> dict[int, _EventFacts]:
    facts = {}
    for chunk in chunks(event_ids):
        rows = Event.objects.filter(id__in=chunk).values_list(
            "id", "event_time", "received_at", "plant_id", "supplier_id"
        )
        for pk, event_time, received_at, plant_id, supplier_id in rows:
            facts[pk] = _EventFacts(event_time or received_at, plant_id, supplier_id)
    return facts


def _compute(
    root: int,
    *,
    graph: Graph,
    span: set[int],
    events_of: dict[int, set[int]],
    facts: dict[int, _EventFacts],
) -> _Computed:
    events = {e for pk in span for e in events_of.get(pk, ()) if e in facts}
    times = [facts[e].at for e in events]
    # Plant and supplier come from the events naming the root itself (the PO release, say), not
    # from a shared shipment's events, which may belong to another PO's plant; the earliest wins
    # so a later, partial event cannot move a trace between scopes.
    naming_root = sorted((facts[e].at, e) for e in events_of.get(root, ()) if e in facts)
    plant_id = next((facts[e].plant_id for _, e in naming_root if facts[e].plant_id), None)
    supplier_id = next((facts[e].supplier_id for _, e in naming_root if facts[e].supplier_id), None)
    return _Computed(
        root=root,
        flow=ROOT_FLOWS[graph.info[root][0]],
        events=events,
        plant_id=plant_id,
        supplier_id=supplier_id,
        first_event_at=min(times, default=None),
        last_event_at=max(times, default=None),
    )


def _traces_ensure(computed: list[_Computed]) -> tuple[dict[int, Trace], set[int]]:
    """The trace of each root, created when missing (race-safe: insert-or-skip, then re-read),
    and the ids of those created here."""
    roots = [c.root for c in computed]
    existing = {t.root_id: t for t in Trace.objects.filter(root_id__in=roots)}
    missing = [c for c in computed if c.root not in existing]
    known = {t.pk for t in existing.values()}
    if missing:
        now = timezone.now()
        Trace.objects.bulk_create(
            [
                Trace(root_id=c.root, flow=c.flow, created_at=now, updated_at=now, **c.fields())
                for c in missing
            ],
            ignore_conflicts=True,
        )
        existing.update({t.root_id: t for t in Trace.objects.filter(root_id__in=[c.root for c in missing])})
    return existing, {t.pk for t in existing.values()} - known


def _aggregates_write(computed: list[_Computed], traces: dict[int, Trace]) -> dict[int, tuple]:
    """Write aggregates that differ; returns {trace id: (plant id, supplier id) before} of those."""
    now = timezone.now()
    written = {}
    for c in computed:
        trace, wanted = traces[c.root], c.fields()
        if any(getattr(trace, name) != value for name, value in wanted.items()):
            written[trace.pk] = (trace.plant_id, trace.supplier_id)
            Trace.objects.filter(pk=trace.pk).update(**wanted, updated_at=now)
            for name, value in wanted.items():
                setattr(trace, name, value)
    return written


def _members_write(computed: list[_Computed], traces: dict[int, Trace]) -> set[int]:
    """Insert missing memberships and delete ones the graph no longer supports; returns the ids
    of the traces whose membership changed.

    Today a trace cannot shrink — objects, links and events are only ever added — so the delete
    never finds rows; it is there so that un-linking (a corrected identifier, a removed rule)
    can be added later without leaving stale members behind.
    """
    by_trace = {traces[c.root].pk: c.events for c in computed}
    current: dict[int, set[int]] = defaultdict(set)
    for chunk in chunks(by_trace):
        rows = TraceEvent.objects.filter(trace_id__in=chunk).values_list("trace_id", "event_id")
        for trace_id, event_id in rows:
            current[trace_id].add(event_id)
    new_rows = [
        TraceEvent(trace_id=trace_id, event_id=event_id)
        for trace_id, events in by_trace.items()
        for event_id in sorted(events - current[trace_id])
    ]
    TraceEvent.objects.bulk_create(new_rows, ignore_conflicts=True, batch_size=2_000)
    changed = {row.trace_id for row in new_rows}
    for trace_id, events in by_trace.items():
        stale = current[trace_id] - events
        if stale:
            changed.add(trace_id)
        for chunk in chunks(stale):
            TraceEvent.objects.filter(trace_id=trace_id, event_id__in=chunk).delete()
    return changed
