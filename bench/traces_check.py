"""Is the seeded data what intake and correlation would have written? (`bench/traces.py --check`)

Correlation is idempotent: run again over events it already correlated, it writes nothing new.
So replaying the real `correlate_events` over a sample of seeded traces' events — in a
transaction that is rolled back — and diffing the rows before and after shows any way the bulk
seed differs from correlation: a missing object, link or membership is inserted, a wrong one is
deleted, a wrong aggregate or milestone is rewritten. Stored events are also validated against
their contracts.
"""

from __future__ import annotations

import random

from django.db import transaction

from controltower.traces.models import (
    BusinessObject,
    EventObject,
    ObjectLink,
    Trace,
    TraceEvent,
    TraceMilestone,
)
from controltower.traces.services import correlate_events
from integrations.contracts import contract_get, validate_data
from integrations.models import Event

_COUNTED = (BusinessObject, EventObject, ObjectLink, Trace, TraceEvent, TraceMilestone)
_AGGREGATES = ("root_id", "plant_id", "supplier_id", "first_event_at", "last_event_at", "event_count")


def _snapshot(trace_ids: set[int]) -> dict:
    """Row counts of the correlation tables, and the aggregates, members and milestones
    (time-independent fields) of `trace_ids`."""
    members: dict[int, set[int]] = {pk: set() for pk in trace_ids}
    for trace_id, event_id in TraceEvent.objects.filter(trace_id__in=trace_ids).values_list(
        "trace_id", "event_id"
    ):
        members[trace_id].add(event_id)
    milestones: dict[int, set[tuple]] = {pk: set() for pk in trace_ids}
    for row in TraceMilestone.objects.filter(trace_id__in=trace_ids).values_list(
        "trace_id", "code", "position", "done_at", "event_id"
    ):
        milestones[row[0]].add(row[1:])
    return {
        "counts": {model.__name__: model.objects.count() for model in _COUNTED},
        "aggregates": {
            row[0]: row[1:] for row in Trace.objects.filter(id__in=trace_ids).values_list("id", *_AGGREGATES)
        },
        "members": members,
        "milestones": milestones,
    }


def _differences(before: dict, after: dict) -> list[str]:
    found = [
        f"{name}: {before['counts'][name]:,} rows before, {after['counts'][name]:,} after"
        for name in before["counts"]
        if before["counts"][name] != after["counts"][name]
    ]
    for part in ("aggregates", "members", "milestones"):
        changed = sorted(pk for pk in before[part] if before[part][pk] != after[part].get(pk))
        if changed:
            found.append(f"{part} of {len(changed)} trace(s) changed, e.g. trace {changed[0]}")
    return found


def contracts_of_stored(event_ids: list[int]) -> list[str]:
    """Contract violations among the stored events `event_ids` (their data as stored)."""
    problems = []
    for pk, type_, version, data in Event.objects.filter(id__in=event_ids).values_list(
        "id", "type", "version", "data"
    ):
        errors = validate_data(contract_get(type_, version), data)
        if errors:
            problems.append(f"event {pk} ({type_}) breaks its contract: {errors[0]}")
    return problems


def shape_check(*, traces: int, seed: int) -> tuple[int, list[str]]:
    """Replay `correlate_events` over every event of `traces` random traces and the largest
    trace, rolled back; returns (events replayed, differences). No differences: the seed is
    exactly what correlation writes for these events."""
    rng = random.Random(seed)
    last = Trace.objects.order_by("-id").values_list("id", flat=True).first()
    picked = set(rng.sample(range(1, last + 1), min(traces, last)))
    picked |= set(Trace.objects.order_by("-event_count").values_list("id", flat=True)[:1])
    events = sorted(set(TraceEvent.objects.filter(trace_id__in=picked).values_list("event_id", flat=True)))
    # Every trace sharing one of these events may be rewritten: compare them all.
    sharing = set(TraceEvent.objects.filter(event_id__in=events).values_list("trace_id", flat=True))
    problems = contracts_of_stored(events[:: max(1, len(events) // 300)])
    with transaction.atomic():
        before = _snapshot(sharing)
        touched = correlate_events(event_ids=events)
        after = _snapshot(sharing | touched)
        transaction.set_rollback(True)
    if touched - sharing:
        problems.append(f"correlation touched {len(touched - sharing)} trace(s) outside the sample's")
    return len(events), problems + _differences(before, after)
