"""Quality hold on received material: quality blocked a lot that came from a supplier.

Read from `quality.exception` events: a hold on a lot that names where it came from (supplier,
purchase order or goods receipt) opens a case; the first later release of the same lot (and
notification, when both name one) resolves it. Holds on the plant's own production lots are
the make flow's business (its trace shows them), not a supply case.
"""

from __future__ import annotations

from controltower.traces.flows import EventFact, FlowContext, quality_holds
from exceptions.models import Case
from exceptions.rules.base import Batch, Findings, finding, number, rule_ref
from exceptions.rules.facts import QUALITY, Fact, events_naming, traces_by_root

RULE = "quality_hold"
FINE = "Quality released the lot."
TYPES = frozenset({QUALITY})


def _received(fact: Fact) -> bool:
    return bool(fact.text("supplier") or fact.text("po_number") or fact.text("receipt_id"))


def evaluate(batch: Batch, findings: Findings) -> None:
    lots = {fact.text("lot") for fact in batch.of_type(QUALITY) if _received(fact)} - {""}
    if not lots:
        return
    facts = [f for f in events_naming(kind="lot", values=lots, types=[QUALITY]) if f.text("lot") in lots]
    traces = traces_by_root("purchase_order", {f.text("po_number") for f in facts})
    by_lot: dict[tuple[str, str], list[Fact]] = {}
    for fact in facts:
        by_lot.setdefault((fact.text("plant"), fact.text("lot")), []).append(fact)
    for (plant, lot), lot_facts in sorted(by_lot.items()):
        # `quality_holds` pairs each hold (in this order) with its release, as traces do.
        holds = [f for f in lot_facts if f.data.get("action") == "hold"]
        context = FlowContext(tuple(EventFact(f.pk, f.type, f.data, f.at) for f in lot_facts))
        for hold, state in zip(holds, quality_holds(context), strict=True):
            if not _received(hold):
                continue
            key = f"{plant}:{lot}:{hold.text('notification')}"
            if state.released_at is not None:
                findings.ok(rule_ref(RULE, key), FINE)
            else:
                findings.problem(_sighting(hold, key, traces.get(hold.text("po_number"))))


def _sighting(hold: Fact, key: str, trace_id: int | None):
    data = hold.data
    amount = (
        f" ({number(data['quantity'])} {data.get('unit', '')})"
        if isinstance(data.get("quantity"), int | float)
        else ""
    )
    origin = [
        f"received from {hold.text('supplier')}" if hold.text("supplier") else "",
        f"on receipt {hold.text('receipt_id')}" if hold.text("receipt_id") else "",
        f"for PO {hold.text('po_number')}" if hold.text("po_number") else "",
    ]
    why = hold.text("reason") or "no reason given"
    code = f" ({hold.text('defect_code')})" if hold.text("defect_code") else ""
    notification = f", notification {hold.text('notification')}" if hold.text("notification") else ""
    summary = (
        f"Quality holds lot {hold.text('lot')} of {hold.text('material')}{amount} at {hold.text('plant')}, "
        f"{' '.join(part for part in origin if part)}: {why}{code}{notification}. "
        f"The material cannot be used until quality releases it."
    )
    return finding(
        rule=RULE,
        key=key,
        kind=Case.Kind.QUALITY_HOLD,
        occurred_at=hold.received_at,
        title=f"Quality hold on lot {hold.text('lot')} of {hold.text('material')} from {hold.text('supplier') or 'a supplier'}",
        summary=summary,
        severity=Case.Severity.HIGH,
        plant_id=hold.plant_id,
        supplier_id=hold.supplier_id,
        trace_id=trace_id,
        evidence={
            "lot": hold.text("lot"),
            "material": hold.text("material"),
            "quantity": data.get("quantity"),
            "unit": data.get("unit"),
            "notification": hold.text("notification"),
            "defect_code": hold.text("defect_code"),
            "reason": why,
            "po_number": hold.text("po_number"),
            "receipt_id": hold.text("receipt_id"),
            "events": [hold.pk],
        },
    )
