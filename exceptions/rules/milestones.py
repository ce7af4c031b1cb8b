"""Missing or late milestones, read from the traces' own evaluation (`TraceMilestone`).

Traces decide when a milestone is late (its deadline passed with nothing reported; they announce
`MILESTONE_LATE`) or missing (a later milestone happened without it), with budgets per plant and
supplier in their admin (`MilestoneBudget`). This rule turns each into a case: one per trace,
milestone and kind, and resolves it itself once the milestone arrived (late or not) or is no
longer expected. It reads one query per batch of traces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from controltower.traces.flows import FLOWS
from controltower.traces.models import TraceMilestone
from exceptions.models import Case
from exceptions.rules.base import Findings, finding, rule_ref

RULE = "milestone"
FINE = "The milestone arrived (or is no longer expected)."
_ROOT_WORDS = {
    "purchase_order": "PO",
    "production_order": "Production order",
    "customer_order": "Customer order",
}
# Milestones whose absence stops stock or money, not only a date.
_SEVERE = {("procure_to_receive", "received"), ("procure_to_receive", "posted"), ("make", "completed")}


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def evaluate_traces(trace_ids: Iterable[int], findings: Findings) -> None:
    ids = sorted(set(trace_ids))
    if not ids:
        return
    rows = TraceMilestone.objects.filter(trace_id__in=ids).values_list(
        "trace_id", "code", "position", "state", "expected_by", "done_at",
        "trace__flow", "trace__plant_id", "trace__supplier_id", "trace__root__kind", "trace__root__key",
    )  # fmt: skip
    by_trace: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        by_trace[row[0]].append(row)
    for trace_rows in by_trace.values():
        trace_rows.sort(key=lambda r: r[2])
        for index, row in enumerate(trace_rows):
            _judge(row, trace_rows[index + 1 :], findings)


def _judge(row: tuple, later: list[tuple], findings: Findings) -> None:
    trace_id, code, _, state, expected_by, done_at, flow, plant_id, supplier_id, root_kind, root_key = row
    key = f"{flow}:{root_key}:{code}"
    late_ref, missing_ref = rule_ref(f"{RULE}:late", key), rule_ref(f"{RULE}:missing", key)
    if state == TraceMilestone.State.LATE and done_at is None:
        findings.ok(missing_ref, FINE)
        findings.problem(_sighting(row, Case.Kind.LATE_MILESTONE, f"{RULE}:late", key, expected_by, None))
    elif state == TraceMilestone.State.MISSING:
        findings.ok(late_ref, FINE)
        passed = next((r for r in later if r[5] is not None), None)
        seen = expected_by or (passed[5] if passed else None)
        if seen is None:
            return
        findings.problem(_sighting(row, Case.Kind.MISSING_MILESTONE, f"{RULE}:missing", key, seen, passed))
    else:
        findings.ok(late_ref, FINE)
        findings.ok(missing_ref, FINE)


def _sighting(row: tuple, kind: str, rule: str, key: str, seen: datetime, passed: tuple | None):
    trace_id, code, _, state, expected_by, _, flow, plant_id, supplier_id, root_kind, root_key = row
    milestone = FLOWS[flow].milestone(code) if flow in FLOWS else None
    label = milestone.label if milestone else code
    what = f"{_ROOT_WORDS.get(root_kind, root_kind)} {root_key}"
    if kind == Case.Kind.LATE_MILESTONE:
        title = f"{what}: {label} is late"
        summary = f"{what}: “{label}” was expected by {_when(expected_by)} and has not been reported yet."
    else:
        after = FLOWS[flow].milestone(passed[1]).label if passed and flow in FLOWS else "a later milestone"
        title = f"{what}: {label} is missing"
        summary = (
            f"{what}: “{label}” was never reported, although “{after}” happened "
            f"at {_when(passed[5] if passed else None)}."
        )
    return finding(
        rule=rule,
        key=key,
        kind=kind,
        occurred_at=seen,
        title=title,
        summary=summary,
        severity=Case.Severity.HIGH if (flow, code) in _SEVERE else Case.Severity.MEDIUM,
        plant_id=plant_id,
        supplier_id=supplier_id,
        trace_id=trace_id,
        evidence={
            "flow": flow,
            "milestone": code,
            "label": label,
            "state": state,
            "expected_by": expected_by.isoformat() if expected_by else None,
            "root": [root_kind, root_key],
        },
    )
