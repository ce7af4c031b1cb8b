"""Expected milestones, deadlines and trace state, evaluated from a trace's events.

Called at the end of `traces_refresh` (inside correlation's transaction) for the traces whose
events may have changed, and by `traces_mark_overdue` for traces whose state can change with
time alone (`Trace.next_due_at` has passed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from controltower.changes import Kind
from controltower.traces.flows import (
    FLOWS,
    EventFact,
    Flow,
    FlowContext,
    Milestone,
    flow_event_types,
    quality_holds,
)
from controltower.traces.models import MilestoneBudget, Trace, TraceEvent, TraceMilestone
from controltower.traces.services.announcing import trace_changed_announce
from controltower.traces.services.graph import chunks

OVERDUE_BATCH = 500
AT_RISK_SHARE = 0.2  # a pending milestone is at risk in the last 20 % of its budget …
AT_RISK_MIN = timedelta(hours=1)  # … or its last hour, whichever is longer
# Deadlines are whole minutes, as pages show them ("due 12:00"): a milestone done at 12:00:27
# is on time for 12:00; it is late from 12:01:00 on. Comparing to the second against a time shown
# to the minute made "expected 00:26, done 00:26:27" read as late.
MINUTE = timedelta(minutes=1)

_ALL_TYPES = sorted(set().union(*(flow_event_types(f) for f in FLOWS.values())))
_MS_FIELDS = ("position", "expected_by", "done_at", "state", "event_id")


@dataclass
class _Row:
    code: str
    position: int
    expected_by: datetime | None
    done_at: datetime | None
    state: str
    event_id: int | None
    warn_at: datetime | None  # when a pending milestone becomes at risk


class _Budgets:
    """`MilestoneBudget` overrides, loaded once per evaluation (a small configuration table)."""

    def __init__(self) -> None:
        self._rows = {
            (b.flow, b.milestone, b.plant_id, b.supplier_id): b.budget_minutes
            for b in MilestoneBudget.objects.all()
        }

    def minutes(self, flow: str, milestone: Milestone, *, plant_id: int | None, supplier_id: int | None):
        for plant, supplier in ((plant_id, supplier_id), (plant_id, None), (None, supplier_id)):
            if (plant is not None or supplier is not None) and (
                found := self._rows.get((flow, milestone.code, plant, supplier))
            ) is not None:
                return found
        return self._rows.get((flow, milestone.code, None, None), milestone.due.minutes)


def trace_milestones_evaluate(*, traces: Iterable[Trace], now: datetime | None = None) -> None:
    """Make each trace's `TraceMilestone` rows, `state` and `next_due_at` match its events at `now`.

    Guarantees: one row per expected milestone of the trace's flow (rows of codes the flow no
    longer declares are deleted); rows and trace fields are written only when they differ, so a
    repeat writes nothing; events are read in one query per chunk of traces, never per event.
    `updated_at` moves only when the trace's state changes. Each trace whose rows or state were
    written is announced (`TRACE_CHANGED`, and `MILESTONE_LATE` when a milestone turned late),
    so a repeat announces nothing.
    """
    now = now or timezone.now()
    by_pk = {t.pk: t for t in traces}
    if not by_pk:
        return
    budgets = _Budgets()
    for chunk in chunks(by_pk):
        facts = _facts(chunk)
        current = _current_rows(chunk)
        creates, updates, deletes, changed_traces = [], [], [], []
        touched: set[int] = set()  # traces whose milestones or state were written
        turned_late: set[int] = set()
        for pk in chunk:
            trace = by_pk[pk]
            flow = FLOWS[trace.flow]
            context = FlowContext(tuple(facts.get(pk, ())))
            rows = _rows(flow, context, trace=trace, budgets=budgets, now=now)
            state, next_due_at, reason = _trace_state(flow, context, rows, now=now)
            have = current.get(pk, {})
            for row in rows:
                existing = have.pop(row.code, None)
                if existing is None:
                    creates.append(TraceMilestone(trace_id=pk, code=row.code, **_values(row)))
                    touched.add(pk)
                    if row.state == TraceMilestone.State.LATE:
                        turned_late.add(pk)
                elif any(getattr(existing, name) != value for name, value in _values(row).items()):
                    if row.state == TraceMilestone.State.LATE and existing.state != row.state:
                        turned_late.add(pk)
                    for name, value in _values(row).items():
                        setattr(existing, name, value)
                    updates.append(existing)
                    touched.add(pk)
            if have:
                touched.add(pk)
            deletes.extend(m.pk for m in have.values())
            if (trace.state, trace.next_due_at, trace.state_reason) != (state, next_due_at, reason):
                if trace.state != state:
                    trace.updated_at = now
                trace.state, trace.next_due_at, trace.state_reason = state, next_due_at, reason
                changed_traces.append(trace)
                touched.add(pk)
        TraceMilestone.objects.bulk_create(creates, batch_size=1_000)
        TraceMilestone.objects.bulk_update(updates, _MS_FIELDS, batch_size=1_000)
        if deletes:
            TraceMilestone.objects.filter(pk__in=deletes).delete()
        Trace.objects.bulk_update(
            changed_traces, ["state", "next_due_at", "state_reason", "updated_at"], batch_size=1_000
        )
        for pk in sorted(touched):
            trace = by_pk[pk]
            trace_changed_announce(trace_id=pk, plant_id=trace.plant_id, supplier_id=trace.supplier_id)
            if pk in turned_late:
                trace_changed_announce(
                    trace_id=pk,
                    plant_id=trace.plant_id,
                    supplier_id=trace.supplier_id,
                    kind=Kind.MILESTONE_LATE,
                )


def traces_mark_overdue(*, now: datetime | None = None, batch: int = OVERDUE_BATCH) -> int:
    """Re-evaluate up to `batch` traces whose `next_due_at` has passed, earliest first.

    Returns how many were evaluated. Each evaluation sets a later `next_due_at` (or none), so
    repeated runs work a backlog off. Takes correlation's lock so it never writes a state
    computed from events older than a concurrent correlation's.
    """
    from controltower.traces.services.correlation import graph_lock  # correlation imports us

    now = now or timezone.now()
    with transaction.atomic():
        graph_lock()
        due = list(Trace.objects.filter(next_due_at__lte=now).order_by("next_due_at", "pk")[:batch])
        trace_milestones_evaluate(traces=due, now=now)
    return len(due)


def _facts(trace_ids: list[int]) -> dict[int, list[EventFact]]:
    rows = (
        TraceEvent.objects.filter(trace_id__in=trace_ids, event__type__in=_ALL_TYPES)
        .values_list(
            "trace_id", "event_id", "event__type", "event__data", "event__event_time", "event__received_at"
        )
        .order_by()
    )
    facts: dict[int, list[EventFact]] = defaultdict(list)
    for trace_id, event_id, type_, data, event_time, received_at in rows:
        facts[trace_id].append(
            EventFact(event_id, type_, data if isinstance(data, dict) else {}, event_time or received_at)
        )
    for events in facts.values():
        events.sort(key=lambda e: (e.at, e.pk))
    return facts


def _current_rows(trace_ids: list[int]) -> dict[int, dict[str, TraceMilestone]]:
    current: dict[int, dict[str, TraceMilestone]] = defaultdict(dict)
    for row in TraceMilestone.objects.filter(trace_id__in=trace_ids):
        current[row.trace_id][row.code] = row
    return current


def _values(row: _Row) -> dict:
    return {name: getattr(row, name) for name in _MS_FIELDS}


def _rows(flow: Flow, context: FlowContext, *, trace: Trace, budgets: _Budgets, now: datetime) -> list[_Row]:
    """Each milestone's completion, deadline and state, in the flow's order."""
    done: dict[str, EventFact] = {}
    for milestone in flow.milestones:
        hit = next((e for e in context.events if any(m.accepts(e, context) for m in milestone.matches)), None)
        if hit is not None:
            done[milestone.code] = hit
    last_done = max((i for i, m in enumerate(flow.milestones) if m.code in done), default=-1)
    rows = []
    for position, milestone in enumerate(flow.milestones):
        expected_by, budget = _deadline(flow, milestone, context, done, trace=trace, budgets=budgets)
        hit = done.get(milestone.code)
        warn_at = None
        if hit is not None:
            state = "late" if expected_by and hit.at >= expected_by + MINUTE else "done"
        elif position < last_done:
            # A later milestone happened without this one.
            state = "skipped" if milestone.optional else "missing"
        elif expected_by and now >= expected_by + MINUTE:
            state = "late"
        else:
            state = "pending"
            if expected_by:
                warn_at = expected_by - max(budget * AT_RISK_SHARE if budget else timedelta(0), AT_RISK_MIN)
        rows.append(
            _Row(
                milestone.code,
                position,
                expected_by,
                hit.at if hit else None,
                state,
                hit.pk if hit else None,
                warn_at,
            )
        )
    return rows


def _deadline(flow, milestone, context, done, *, trace, budgets) -> tuple[datetime | None, timedelta | None]:
    """(expected_by, budget) of `milestone`, expected_by in whole minutes (see `MINUTE`); budget
    None when the deadline is not anchor + minutes."""
    if milestone.due.at and (at := milestone.due.at(context)):
        return _minute(at), None
    anchor = done.get(milestone.due.anchor) if milestone.due.anchor else None
    if anchor is None:
        return None, None
    minutes = budgets.minutes(flow.code, milestone, plant_id=trace.plant_id, supplier_id=trace.supplier_id)
    if minutes is None:
        return None, None
    budget = timedelta(minutes=minutes)
    return _minute(anchor.at + budget), budget


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _trace_state(flow: Flow, context: FlowContext, rows: list[_Row], *, now: datetime):
    """(state, next_due_at, reason): exception > late > at risk > complete > on track;
    next_due_at is the earliest time a pending milestone turns at risk or late; reason is the
    `Trace.state_reason` saying which milestone, event or hold decided the state."""
    pending = [r for r in rows if r.state == "pending" and r.expected_by]
    moments = [r.warn_at if r.warn_at and r.warn_at > now else r.expected_by + MINUTE for r in pending]
    next_due_at = min(moments, default=None)
    failed = next((e for e in context.events if flow.exception(e, context)), None) if flow.exception else None
    holds = quality_holds(context)
    open_hold = next((h for h in holds if h.released_at is None), None)
    missing = next((r for r in rows if r.state == "missing"), None)
    late = next((r for r in rows if r.state == "late"), None)
    risky = next((r for r in pending if r.warn_at and r.warn_at <= now), None)
    if failed or open_hold or missing:
        state = Trace.State.EXCEPTION
        if failed:
            error = failed.data.get("error") if isinstance(failed.data.get("error"), dict) else {}
            detail = " ".join(str(error.get(k, "")) for k in ("code", "message")).strip()
            ref = failed.data.get("reference") or failed.data.get("receipt_id") or ""
            reason = _reason("posting_failed", at=failed.at, detail=f"{ref}: {detail}" if ref else detail)
        elif open_hold:
            reason = _reason(
                "quality_hold", at=open_hold.held_at, detail=f"lot {open_hold.lot}: {open_hold.reason}"
            )
        else:
            reason = _reason("missing", flow=flow, row=missing)
    elif late:
        state = Trace.State.LATE
        reason = _reason("late", flow=flow, row=late)
    elif risky:
        state = Trace.State.AT_RISK
        reason = _reason("at_risk", flow=flow, row=risky)
    elif rows and rows[-1].state == "done":
        state = Trace.State.COMPLETE
        reason = _reason("complete", flow=flow, row=rows[-1])
    else:
        state = Trace.State.ON_TRACK
        upcoming = min(pending, key=lambda r: r.expected_by, default=None)
        reason = _reason("on_track", flow=flow, row=upcoming)
    if holds:
        reason["quality"] = [
            {
                "lot": h.lot,
                "held_at": _iso(h.held_at),
                "released_at": _iso(h.released_at),
                "reason": h.reason,
                "defect_code": h.defect_code,
            }
            for h in holds
        ]
    return str(state), next_due_at, reason


def _reason(
    cause: str,
    *,
    flow: Flow | None = None,
    row: _Row | None = None,
    at: datetime | None = None,
    detail: str = "",
) -> dict:
    milestone = flow.milestone(row.code) if flow and row else None
    return {
        "cause": cause,
        "milestone": milestone.label if milestone else "",
        "due": _iso(row.expected_by) if row else None,
        "at": _iso(row.done_at if row else at),
        "detail": detail,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None
