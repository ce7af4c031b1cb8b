"""Date conflict: the supplier confirms (or revises) a PO line for a date after the plant's need
date — the line's requested date in the PO's newest version.

Read per PO line from the latest confirmation; allowed slack in days is the DATE_CONFLICT
threshold (per plant, supplier, material). Resolves itself when a newer confirmation or a PO
change brings the dates together again (or the line is rejected or cancelled: that is no longer
a date question).
"""

from __future__ import annotations

from exceptions.models import Case
from exceptions.rules.base import Batch, Findings, finding, rule_ref
from exceptions.rules.facts import (
    CONFIRMATION,
    PO_CHANGED,
    PO_RELEASED,
    PurchaseOrder,
    purchase_orders,
    traces_by_root,
)
from exceptions.rules.thresholds import Rule

RULE = Rule.DATE_CONFLICT.value
FINE = "The confirmed date meets the plant's need date again."
TYPES = frozenset({CONFIRMATION, PO_RELEASED, PO_CHANGED})


def evaluate(batch: Batch, findings: Findings) -> None:
    pos = {fact.text("po_number") for fact in batch.of_type(*TYPES)} - {""}
    if not pos:
        return
    orders = purchase_orders(pos, with_asns=False)
    traces = traces_by_root("purchase_order", orders)
    for order in orders.values():
        for line, confirmed in sorted(order.confirmed.items()):
            po_line = order.lines.get(line)
            if po_line is None:
                continue
            key = f"PO {order.number}/{line}"
            ref = rule_ref(RULE, key)
            threshold = batch.thresholds.of(
                RULE, plant_id=order.plant_id, supplier_id=order.supplier_id, material=po_line.material
            )
            need, promised = po_line.requested_date, confirmed.confirmed_date
            if (
                not threshold.enabled
                or po_line.cancelled
                or confirmed.status == "rejected"
                or need is None
                or promised is None
                or (promised - need).days <= threshold.value
            ):
                findings.ok(ref, FINE)
                continue
            findings.problem(_sighting(order, line, key, threshold.value, traces.get(order.number)))


def _sighting(order: PurchaseOrder, line: int, key: str, slack: float, trace_id: int | None):
    po_line, confirmed = order.lines[line], order.confirmed[line]
    days = (confirmed.confirmed_date - po_line.requested_date).days
    supplier = confirmed.fact.text("supplier") or "The supplier"
    how = "revises" if confirmed.status == "revised" else "confirms"
    reason = f" ({confirmed.reason})" if confirmed.reason else ""
    allowed = f"{slack:g} day{'s' if slack != 1 else ''}"
    summary = (
        f"{supplier} {how} PO {order.number}/{line} ({po_line.material}) for "
        f"{confirmed.confirmed_date.isoformat()}{reason}; the plant needs it by "
        f"{po_line.requested_date.isoformat()} — {days} day{'s' if days != 1 else ''} late; "
        f"allowed {allowed}."
    )
    return finding(
        rule=RULE,
        key=key,
        kind=Case.Kind.DATE_CONFLICT,
        occurred_at=confirmed.fact.received_at,
        title=(
            f"{supplier} {how} PO {order.number}/{line} {days} day{'s' if days != 1 else ''} after the need date"
        ),
        summary=summary,
        severity=Case.Severity.HIGH if days > 3 else Case.Severity.MEDIUM,
        plant_id=order.plant_id,
        supplier_id=order.supplier_id,
        trace_id=trace_id,
        evidence={
            "po_number": order.number,
            "po_line": line,
            "material": po_line.material,
            "status": confirmed.status,
            "confirmed_date": confirmed.confirmed_date.isoformat(),
            "need_date": po_line.requested_date.isoformat(),
            "days_late": days,
            "allowed_days": slack,
            "reason": confirmed.reason,
            "events": sorted({confirmed.fact.pk, order.released.pk}),
        },
    )
