"""Reconciliation: goods receipts the plants' WMS reported against what the ERP posted.

Scheduled (beat), over the receipts of the look-back window: a receipt the WMS reported that
the ERP has not posted after the grace time (RECONCILIATION threshold, minutes per plant) is
missing in the ERP; a goods-receipt posting the ERP made for a receipt no WMS reported is
missing in the WMS; where the ERP also reports its receipt document with quantities (a
`goods.received` from an ERP system), quantities per material must agree. The ERP side is
`erp.posting` (transaction goods_receipt, status posted; `receipt_id` or `reference` names the
receipt). A case resolves itself on the run after both sides match.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from exceptions.models import Case
from exceptions.rules.base import Findings, finding, number, rule_ref, within
from exceptions.rules.facts import (
    POSTING,
    RECEIPT,
    Fact,
    erp_system_ids,
    events_received,
    latest_per,
    traces_by_root,
)
from exceptions.rules.thresholds import Rule, Thresholds
from exceptions.rules.units import in_unit, quantity

RULE = Rule.RECONCILIATION.value
FINE = "The WMS receipt and the ERP posting match now."
LOOKBACK = timedelta(hours=24)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _refs(posting: Fact) -> set[str]:
    return {posting.text("receipt_id"), posting.text("reference")} - {""}


def _totals(fact: Fact) -> dict[str, tuple[float, str, str]]:
    """material → (amount in base unit, base unit, unit as written)."""
    totals: dict[str, tuple[float, str, str]] = {}
    for item in fact.lines():
        amount = quantity(item.get("quantity"), str(item.get("unit", "")))
        if amount is None:
            continue
        material = str(item.get("material", ""))
        before = totals.get(material, (0.0, amount.unit, str(item.get("unit", ""))))
        totals[material] = (before[0] + amount.amount, amount.unit, before[2])
    return totals


def reconcile(*, findings: Findings, thresholds: Thresholds, now: datetime) -> None:
    since = now - LOOKBACK
    erps = erp_system_ids()
    facts = events_received(types=[RECEIPT, POSTING], since=since - timedelta(hours=1))
    postings = [f for f in facts if f.type == POSTING and f.text("transaction") == "goods_receipt"]
    posted: dict[str, list[Fact]] = defaultdict(list)
    failed: dict[str, list[Fact]] = defaultdict(list)
    for posting in postings:
        for ref in _refs(posting):
            (posted if posting.text("status") == "posted" else failed)[ref].append(posting)
    receipts = [f for f in facts if f.type == RECEIPT]
    wms = latest_per((f for f in receipts if f.system_id not in erps), "receipt_id")
    erp_docs = latest_per((f for f in receipts if f.system_id in erps), "receipt_id")
    pos = {str(line.get("po_number", "")) for f in wms.values() for line in f.lines()}
    traces = traces_by_root("purchase_order", pos)
    for receipt_id, receipt in sorted(wms.items()):
        if receipt.received_at < since:
            continue
        grace = thresholds.of(RULE, plant_id=receipt.plant_id, supplier_id=receipt.supplier_id)
        key = f"GR {receipt_id}"
        trace_id = next((traces[p] for p in sorted(pos & _pos(receipt)) if p in traces), None)
        if not grace.enabled:
            findings.ok(rule_ref(RULE, key), FINE)
            continue
        if not posted.get(receipt_id) and receipt_id not in erp_docs:
            if now - receipt.received_at >= timedelta(minutes=grace.value):
                findings.problem(
                    _missing_in_erp(receipt, key, failed.get(receipt_id, []), grace.value, trace_id)
                )
            continue  # not due yet: neither a problem nor known fine
        findings.ok(rule_ref(RULE, key), FINE)
        if receipt_id in erp_docs:
            _compare(receipt, erp_docs[receipt_id], findings, thresholds, trace_id)
    for ref, documents in sorted(posted.items()):
        first = min(documents, key=lambda d: d.received_at)
        if ref in wms or first.received_at < since:
            continue
        grace = thresholds.of(RULE, plant_id=first.plant_id, supplier_id=first.supplier_id)
        key = f"ERP GR {ref}"
        if grace.enabled and now - first.received_at >= timedelta(minutes=grace.value):
            findings.problem(_missing_in_wms(first, ref, key, grace.value))


def _pos(receipt: Fact) -> set[str]:
    return {str(line.get("po_number", "")) for line in receipt.lines()} - {""}


def _compare(receipt: Fact, erp_doc: Fact, findings: Findings, thresholds: Thresholds, trace_id) -> None:
    counted, booked = _totals(receipt), _totals(erp_doc)
    receipt_id = receipt.text("receipt_id")
    for material in sorted(set(counted) | set(booked)):
        key = f"GR {receipt_id} {material}"
        wms_amount, unit, written = counted.get(material, (0.0, "", ""))
        erp_amount, erp_unit, erp_written = booked.get(material, (0.0, unit, written))
        if (unit == erp_unit or not (wms_amount and erp_amount)) and within(erp_amount, wms_amount, 0):
            findings.ok(rule_ref(RULE, key), FINE)
            continue
        shown = written or erp_written
        summary = (
            f"The plant's WMS counted {number(in_unit(wms_amount, shown))} {shown} of {material} on goods receipt "
            f"{receipt_id}; the ERP booked {number(in_unit(erp_amount, erp_written or shown))} "
            f"{erp_written or shown}. Stock in the ERP differs from the warehouse."
        )
        findings.problem(
            finding(
                rule=RULE,
                key=key,
                kind=Case.Kind.RECONCILIATION,
                occurred_at=max(receipt.received_at, erp_doc.received_at),
                title=f"Goods receipt {receipt_id}: ERP and WMS quantities of {material} differ",
                summary=summary,
                severity=Case.Severity.HIGH,
                plant_id=receipt.plant_id,
                supplier_id=receipt.supplier_id,
                trace_id=trace_id,
                evidence={
                    "receipt_id": receipt_id,
                    "material": material,
                    "wms_quantity": wms_amount,
                    "erp_quantity": erp_amount,
                    "unit": unit,
                    "events": [receipt.pk, erp_doc.pk],
                },
            )
        )


def _missing_in_erp(receipt: Fact, key: str, failures: list[Fact], grace: float, trace_id):
    receipt_id = receipt.text("receipt_id")
    shipment = f" for {receipt.text('shipment_id')}" if receipt.text("shipment_id") else ""
    refused = ""
    if failures:
        error = failures[-1].data.get("error") if isinstance(failures[-1].data.get("error"), dict) else {}
        refused = (
            f" The ERP refused the posting: {error.get('code', '')} {error.get('message', '')}".rstrip() + "."
        )
    summary = (
        f"The plant's WMS reported goods receipt {receipt_id}{shipment} at {receipt.text('plant')} on "
        f"{_when(receipt.received_at)} ({len(receipt.lines())} line{'s' if len(receipt.lines()) != 1 else ''}); "
        f"the ERP has not posted it after {grace:g} min.{refused}"
    )
    return finding(
        rule=RULE,
        key=key,
        kind=Case.Kind.RECONCILIATION,
        occurred_at=receipt.received_at,
        title=f"Goods receipt {receipt_id} missing in the ERP",
        summary=summary,
        severity=Case.Severity.HIGH,
        plant_id=receipt.plant_id,
        supplier_id=receipt.supplier_id,
        trace_id=trace_id,
        evidence={
            "receipt_id": receipt_id,
            "missing_in": "erp",
            "grace_minutes": grace,
            "failed_postings": [f.pk for f in failures],
            "events": [receipt.pk],
        },
    )


def _missing_in_wms(posting: Fact, ref: str, key: str, grace: float):
    summary = (
        f"The ERP posted goods receipt {ref} (document {posting.text('document_number') or '—'}) on "
        f"{_when(posting.received_at)}, but no plant WMS reported that receipt within {grace:g} min."
    )
    return finding(
        rule=RULE,
        key=key,
        kind=Case.Kind.RECONCILIATION,
        occurred_at=posting.received_at,
        title=f"Goods receipt {ref} posted in the ERP but missing in the WMS",
        summary=summary,
        severity=Case.Severity.MEDIUM,
        plant_id=posting.plant_id,
        supplier_id=posting.supplier_id,
        evidence={"receipt_id": ref, "missing_in": "wms", "grace_minutes": grace, "events": [posting.pk]},
    )
