"""Quantity mismatch: what an ASN ships against what the PO line ordered, and what a receipt
counted against what its ASN announced.

- ASN vs PO line: per PO line, everything the PO's ASNs ship (each ASN in its newest version,
  so a corrected ASN replaces the wrong one) against the quantity agreed: the supplier's
  confirmed quantity when it confirmed or revised the line, else the ordered one. ASN lines
  without a PO line number (EPCIS ASNs name only the POs) are matched by material: then the
  PO's lines of that material are compared together.
- Receipt vs ASN: per shipment and material, what its receipts counted (every condition: a
  damaged pallet was delivered too) against what the ASN announced.
Units are normalised first (`KGM` is `KG`, see `units`); quantities in units of different
dimensions are a mismatch of their own. Tolerances are `RuleThreshold`s (ASN_QUANTITY,
RECEIPT_QUANTITY), per plant, supplier and material. A case resolves itself once the numbers
agree again (a corrected ASN, a PO change, the rest shipped, a corrected receipt).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from exceptions.models import Case
from exceptions.rules.base import Batch, Findings, finding, number, percent, rule_ref, within
from exceptions.rules.facts import (
    ASN,
    CONFIRMATION,
    PO_CHANGED,
    PO_RELEASED,
    RECEIPT,
    Fact,
    PurchaseOrder,
    asn_purchase_orders,
    erp_system_ids,
    events_naming,
    latest_per,
    purchase_orders,
    traces_by_root,
)
from exceptions.rules.thresholds import Rule
from exceptions.rules.units import Quantity, in_unit, quantity

ASN_RULE, RECEIPT_RULE = Rule.ASN_QUANTITY.value, Rule.RECEIPT_QUANTITY.value
ASN_FINE = "The shipped quantity matches the PO line again (within its tolerance)."
RECEIPT_FINE = "The received quantity matches the ASN again (within its tolerance)."
TYPES = frozenset({ASN, RECEIPT, PO_RELEASED, PO_CHANGED, CONFIRMATION})


@dataclass
class _Shipped:
    """What one comparison target (a PO line, or a PO's lines of one material) got shipped."""

    by_asn: dict[str, Quantity]
    units: dict[str, str]  # shipment → unit as the ASN wrote it
    latest: Fact


def evaluate(batch: Batch, findings: Findings) -> None:
    asns, receipts = batch.of_type(ASN), batch.of_type(RECEIPT)
    pos: set[str] = set()
    for fact in asns:
        pos |= asn_purchase_orders(fact)
    pos |= {f.text("po_number") for f in batch.of_type(PO_RELEASED, PO_CHANGED, CONFIRMATION)}
    if pos:
        orders = purchase_orders(pos)
        traces = traces_by_root("purchase_order", orders)
        for order in orders.values():
            _asn_vs_po(order, batch, findings, traces.get(order.number))
    shipments = {f.text("shipment_id") for f in asns + receipts} - {""}
    if shipments:
        _receipts_vs_asns(shipments, batch, findings)


# --- ASN vs PO line ---------------------------------------------------------------------------


def _agreed(order: PurchaseOrder, line: int) -> tuple[Quantity | None, str, str]:
    """(agreed quantity, its unit as written, how it was agreed in words) of a PO line."""
    po_line = order.lines[line]
    confirmed = order.confirmed.get(line)
    ordered = f"{number(po_line.quantity or 0)} {po_line.unit}"
    if po_line.cancelled:
        return Quantity(0, "EA"), po_line.unit, "was cancelled"
    if confirmed and confirmed.status == "rejected":
        return Quantity(0, "EA"), po_line.unit, "was rejected by the supplier"
    if confirmed and confirmed.quantity is not None and confirmed.quantity != po_line.quantity:
        agreed = f"{number(confirmed.quantity)} {confirmed.unit}"
        return quantity(confirmed.quantity, confirmed.unit), confirmed.unit, (
            f"was confirmed by the supplier for {agreed} (ordered {ordered})"
        )  # fmt: skip
    return quantity(po_line.quantity, po_line.unit), po_line.unit, f"ordered {ordered}"


def _targets(order: PurchaseOrder) -> dict[str, tuple[list[int], _Shipped]]:
    """Comparison targets of a PO → (its PO lines, what its ASNs ship to them)."""
    by_material: dict[str, list[int]] = defaultdict(list)
    for po_line in order.lines.values():
        by_material[po_line.material].append(po_line.line)
    unnumbered = {
        str(item.get("material", ""))
        for fact in order.asns.values()
        for item in fact.lines()
        if not item.get("po_number") and str(item.get("material", "")) in by_material
    }
    targets: dict[str, tuple[list[int], _Shipped]] = {}
    for shipment, fact in order.asns.items():
        others = asn_purchase_orders(fact) - {order.number}
        for item in fact.lines():
            material = str(item.get("material", ""))
            shipped = quantity(item.get("quantity"), str(item.get("unit", "")))
            if shipped is None:
                continue
            if item.get("po_number"):
                if str(item["po_number"]).strip() != order.number or item.get("po_line") not in order.lines:
                    continue
                lines = by_material[material] if material in unnumbered else [item["po_line"]]
            elif material in by_material and not others:
                lines = by_material[material]  # an EPCIS ASN for this PO only: by material
            else:
                continue  # several POs and no line number: which PO it serves is not said
            key = f"PO {order.number} {material}" if len(lines) > 1 or material in unnumbered else (
                f"PO {order.number}/{lines[0]}"
            )  # fmt: skip
            _, target = targets.setdefault(key, (lines, _Shipped({}, {}, fact)))
            previous = target.by_asn.get(shipment)
            target.by_asn[shipment] = shipped if previous is None or previous.unit != shipped.unit else (
                previous + shipped
            )  # fmt: skip
            target.units[shipment] = str(item.get("unit", ""))
            if fact.received_at > target.latest.received_at:
                target.latest = fact
    return targets


def _asn_vs_po(order: PurchaseOrder, batch: Batch, findings: Findings, trace_id: int | None) -> None:
    for key, (lines, shipped) in _targets(order).items():
        ref = rule_ref(ASN_RULE, key)
        first = order.lines[lines[0]]
        threshold = batch.thresholds.of(
            ASN_RULE, plant_id=order.plant_id, supplier_id=order.supplier_id, material=first.material
        )
        agreed_parts = [_agreed(order, line) for line in lines]
        if not threshold.enabled or any(q is None for q, _, _ in agreed_parts):
            findings.ok(ref, ASN_FINE)
            continue
        units = {q.unit for q, _, _ in agreed_parts if q.amount} | {q.unit for q in shipped.by_asn.values()}
        if len(units) > 1:
            findings.problem(_unit_sighting(order, key, lines, shipped, agreed_parts, trace_id))
            continue
        expected = sum(q.amount for q, _, _ in agreed_parts)
        total = sum(q.amount for q in shipped.by_asn.values())
        if within(total, expected, threshold.value):
            findings.ok(ref, ASN_FINE)
            continue
        findings.problem(
            _asn_sighting(
                order, key, lines, shipped, agreed_parts, total, expected, threshold.value, trace_id
            )
        )


def _shipped_words(shipped: _Shipped, material: str) -> str:
    parts = [
        f"ASN {shipment} ships {number(in_unit(q.amount, shipped.units[shipment]))} {shipped.units[shipment]}"
        for shipment, q in sorted(shipped.by_asn.items())
    ]
    return f"{'; '.join(parts)} of {material}"


def _asn_sighting(order, key, lines, shipped, agreed_parts, total, expected, tolerance, trace_id):
    material = order.lines[lines[0]].material
    unit = agreed_parts[0][1] or order.lines[lines[0]].unit
    if "/" in key:
        what = f"PO {order.number}/{lines[0]}"
    else:
        numbers = ", ".join(str(n) for n in lines)
        what = f"PO {order.number} line{'s' if len(lines) > 1 else ''} {numbers} (matched by material: no PO line number on the ASN)"
    if len(lines) == 1:
        agreed_words = f"the PO line {agreed_parts[0][2]}"
    else:
        agreed_words = " and ".join(
            f"line {line} {how}" for line, (_, _, how) in zip(lines, agreed_parts, strict=True)
        )
    difference = (total - expected) / expected * 100 if expected else 100.0
    summary = (
        f"{_shipped_words(shipped, material)} for {what}; {agreed_words}; tolerance {percent(tolerance)}."
    )
    direction = "over" if total > expected else "short"
    title = (
        f"ASN quantity {direction}: {number(in_unit(total, unit))} {unit} of {material} shipped for "
        f"PO {order.number}, {number(in_unit(expected, unit))} {unit} agreed"
    )
    return finding(
        rule=ASN_RULE,
        key=key,
        kind=Case.Kind.QUANTITY_MISMATCH,
        occurred_at=shipped.latest.received_at,
        title=title,
        summary=summary,
        severity=Case.Severity.HIGH if abs(difference) >= 10 else Case.Severity.MEDIUM,
        plant_id=order.plant_id,
        supplier_id=order.supplier_id,
        trace_id=trace_id,
        evidence={
            "comparison": "asn_vs_po_line",
            "po_number": order.number,
            "po_lines": lines,
            "material": material,
            "shipped": {shipment: [q.amount, q.unit] for shipment, q in shipped.by_asn.items()},
            "shipped_total": total,
            "agreed_total": expected,
            "unit": unit,
            "difference_pct": round(difference, 2),
            "tolerance_pct": tolerance,
            "events": sorted({fact.pk for fact in [shipped.latest, order.released] if fact}),
        },
    )


def _unit_sighting(order, key, lines, shipped, agreed_parts, trace_id):
    material = order.lines[lines[0]].material
    asn_units = ", ".join(sorted(set(shipped.units.values())))
    po_units = ", ".join(sorted({u for _, u, _ in agreed_parts if u}))
    return finding(
        rule=ASN_RULE,
        key=key,
        kind=Case.Kind.QUANTITY_MISMATCH,
        occurred_at=shipped.latest.received_at,
        title=f"ASN unit does not match the PO: {material} shipped in {asn_units}, ordered in {po_units}",
        summary=(
            f"{_shipped_words(shipped, material)} for PO {order.number}, but the PO orders it in {po_units}: "
            f"the quantities cannot be compared. Ask {'the supplier' if order.supplier_id else 'the sender'} "
            f"to ship in the PO's unit, or correct the PO."
        ),
        plant_id=order.plant_id,
        supplier_id=order.supplier_id,
        trace_id=trace_id,
        evidence={
            "comparison": "asn_vs_po_line",
            "po_number": order.number,
            "po_lines": lines,
            "material": material,
            "asn_units": asn_units,
            "po_units": po_units,
        },
    )


# --- Receipt vs ASN -----------------------------------------------------------------------------


def _by_material(facts: list[Fact]) -> dict[str, tuple[Quantity, str]]:
    totals: dict[str, tuple[Quantity, str]] = {}
    for fact in facts:
        for item in fact.lines():
            amount = quantity(item.get("quantity"), str(item.get("unit", "")))
            if amount is None:
                continue
            material = str(item.get("material", ""))
            if material in totals and totals[material][0].unit == amount.unit:
                totals[material] = (totals[material][0] + amount, totals[material][1])
            elif material not in totals:
                totals[material] = (amount, str(item.get("unit", "")))
    return totals


def _receipts_vs_asns(shipments: set[str], batch: Batch, findings: Findings) -> None:
    facts = events_naming(kind="shipment", values=shipments, types=[ASN, RECEIPT])
    if any(f.type == RECEIPT for f in facts):
        erps = erp_system_ids()  # an ERP's receipt document is reconciliation's, not a dock count
        facts = [f for f in facts if f.type != RECEIPT or f.system_id not in erps]
    asns = latest_per((f for f in facts if f.type == ASN), "shipment_id")
    receipts: dict[str, list[Fact]] = defaultdict(list)
    for receipt in latest_per((f for f in facts if f.type == RECEIPT), "receipt_id").values():
        receipts[receipt.text("shipment_id")].append(receipt)
    pos = {po for asn in asns.values() for po in asn_purchase_orders(asn)}
    traces = traces_by_root("purchase_order", pos) if pos else {}
    for shipment in sorted(shipments):
        asn, counted = asns.get(shipment), receipts.get(shipment)
        if asn is None or not counted:
            continue  # not shipped by ASN, or not received yet: nothing to compare
        announced, received = _by_material([asn]), _by_material(counted)
        trace_id = next((traces[po] for po in sorted(asn_purchase_orders(asn)) if po in traces), None)
        for material in sorted(set(announced) | set(received)):
            key = f"{shipment} {material}"
            ref = rule_ref(RECEIPT_RULE, key)
            threshold = batch.thresholds.of(
                RECEIPT_RULE, plant_id=asn.plant_id, supplier_id=asn.supplier_id, material=material
            )
            zero = (Quantity(0, "EA"), "EA")
            (want, want_unit), (got, got_unit) = announced.get(material, zero), received.get(material, zero)
            comparable = want.unit == got.unit or not (want.amount and got.amount)
            if not threshold.enabled or (comparable and within(got.amount, want.amount, threshold.value)):
                findings.ok(ref, RECEIPT_FINE)
                continue
            findings.problem(
                _receipt_sighting(
                    asn, counted, material, key, want, want_unit, got, got_unit, threshold.value, trace_id
                )
            )


def _receipt_sighting(asn, counted, material, key, want, want_unit, got, got_unit, tolerance, trace_id):
    shipment = asn.text("shipment_id")
    receipt_ids = ", ".join(sorted(r.text("receipt_id") for r in counted))
    latest = max(counted, key=lambda r: r.received_at)
    unit = want_unit if want.amount else got_unit
    got_words = f"{number(in_unit(got.amount, got_unit))} {got_unit}" if got.amount else "nothing"
    want_words = f"{number(in_unit(want.amount, want_unit))} {want_unit}" if want.amount else "none"
    summary = (
        f"Receipt {receipt_ids} of {shipment} counts {got_words} of {material}; "
        f"the ASN announced {want_words}; tolerance {percent(tolerance)}."
    )
    direction = "over" if got.amount > want.amount else "short"
    return finding(
        rule=RECEIPT_RULE,
        key=key,
        kind=Case.Kind.QUANTITY_MISMATCH,
        occurred_at=latest.received_at,
        title=f"Receipt {direction} against ASN {shipment}: {material} {got_words} received, {want_words} announced",
        summary=summary,
        plant_id=latest.plant_id or asn.plant_id,
        supplier_id=asn.supplier_id or latest.supplier_id,
        trace_id=trace_id,
        evidence={
            "comparison": "receipt_vs_asn",
            "shipment_id": shipment,
            "receipts": sorted(r.text("receipt_id") for r in counted),
            "material": material,
            "announced": [want.amount, want.unit],
            "received": [got.amount, got.unit],
            "unit": unit,
            "tolerance_pct": tolerance,
            "events": sorted([asn.pk, *(r.pk for r in counted)]),
        },
    )
