"""Production at risk: a shipment that was to arrive in time for a production order slipped
past the order's start minus a buffer — the planner hears it before the line stops.

Where the values live: a production order's plant, `scheduled_start` and `components` in
`production_order.released` (started once `production_order.started` arrives); a shipment's
plant, materials and first ETA in `shipment.dispatched`, a newer ETA in the newest of its ASN
versions and `shipment.milestone` events (`estimated_arrival`, e.g. when delayed); it has
arrived with an `arrived`/`delivered` milestone or a goods receipt naming it.

Which shipment feeds which order is not in the data (there is no pegging and no stock), so a
shipment counts for an order when it was planned in time for it (first ETA at or before start
minus buffer) and now is not (latest ETA after it). Orders a shipment was never meant for, and
shipments that stay on time, make no noise. Buffer: the PRODUCTION_AT_RISK threshold in minutes
(per plant and material). Resolves itself when the material arrived, the ETA moved back in
time, the order was rescheduled, or production started.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exceptions.models import Case
from exceptions.rules.base import Batch, Findings, finding, rule_ref
from exceptions.rules.facts import (
    ASN,
    MILESTONE,
    PRODUCTION_RELEASED,
    PRODUCTION_STARTED,
    RECEIPT,
    Fact,
    events_naming,
    parse_moment,
    traces_by_root,
)
from exceptions.rules.thresholds import Rule

RULE = Rule.PRODUCTION_AT_RISK.value
FINE = "The material arrives in time again (arrived, ETA earlier, order moved or started)."
TYPES = frozenset({ASN, MILESTONE, RECEIPT, PRODUCTION_RELEASED})
LOOKBACK = timedelta(days=14)  # shipments and orders older than this are history, not risk


@dataclass
class _Shipment:
    id: str
    plant_id: int | None
    supplier: str
    materials: set[str]
    first_eta: datetime | None
    latest_eta: datetime | None
    arrived: bool
    events: list[int]
    heard_at: datetime  # when the latest ETA was received (a stable time for the finding)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _shipments(facts: list[Fact]) -> dict[str, _Shipment]:
    """Shipments as their ASN versions, milestones and receipts tell them now (facts oldest first)."""
    found: dict[str, _Shipment] = {}
    for fact in facts:
        shipment_id = fact.text("shipment_id")
        if fact.type == ASN:
            materials = {str(line.get("material", "")) for line in fact.lines()} - {""}
            eta = parse_moment(fact.data.get("estimated_arrival"))
            known = found.get(shipment_id)
            if known is None:
                found[shipment_id] = _Shipment(
                    shipment_id, fact.plant_id, fact.text("supplier"), materials, eta, eta, False, [fact.pk],
                    fact.received_at,
                )  # fmt: skip
            else:  # a newer ASN version: its lines and ETA replace the old ones
                known.materials, known.latest_eta = materials, eta or known.latest_eta
                known.first_eta = known.first_eta or eta
                known.events.append(fact.pk)
                known.heard_at = fact.received_at
    for fact in facts:
        shipment = found.get(fact.text("shipment_id"))
        if shipment is None or fact.type == ASN:
            continue
        if fact.type == RECEIPT or fact.data.get("milestone") in ("arrived", "delivered"):
            shipment.arrived = True
        elif eta := parse_moment(fact.data.get("estimated_arrival")):
            shipment.latest_eta = eta  # the newest estimate wins (facts are oldest first)
            shipment.events.append(fact.pk)
            shipment.heard_at = fact.received_at
    return found


def evaluate(batch: Batch, findings: Findings) -> None:
    since = batch.now - LOOKBACK
    touched = {f.text("shipment_id") for f in batch.of_type(ASN, MILESTONE, RECEIPT)} - {""}
    orders_in_batch = batch.of_type(PRODUCTION_RELEASED)
    if not touched and not orders_in_batch:
        return
    # Materials per plant that changed: the shipments' and the new orders' components.
    shipment_facts = events_naming(kind="shipment", values=touched, types=[ASN], since=since)
    pairs = {(f.plant_id, str(line.get("material", ""))) for f in shipment_facts for line in f.lines()}
    pairs |= {(f.plant_id, str(c.get("material", ""))) for f in orders_in_batch for c in _components(f)}
    materials = {material for _, material in pairs} - {""}
    if not materials:
        return
    # Orders first: most materials have no open production order needing them, and then the
    # shipments of those materials need not be read at all.
    orders = {
        f.text("production_order"): f
        for f in events_naming(kind="material", values=materials, types=[PRODUCTION_RELEASED], since=since)
        if any((f.plant_id, str(c.get("material", ""))) in pairs for c in _components(f))
    }  # the newest release per order wins (oldest first)
    if not orders:
        return
    needed = {str(c.get("material", "")) for f in orders.values() for c in _components(f)} & materials
    asns = events_naming(kind="material", values=needed, types=[ASN], since=since)
    shipment_ids = {f.text("shipment_id") for f in asns} - {""}
    progress = events_naming(kind="shipment", values=shipment_ids, types=[MILESTONE, RECEIPT], since=since)
    shipments = _shipments(sorted(asns + progress, key=lambda f: (f.at, f.received_at, f.pk)))
    supply: dict[tuple[int | None, str], list[_Shipment]] = defaultdict(list)
    for shipment in shipments.values():
        for material in shipment.materials:
            supply[(shipment.plant_id, material)].append(shipment)
    started = {
        f.text("production_order")
        for f in events_naming(
            kind="production_order", values=orders, types=[PRODUCTION_STARTED], since=since
        )
    }
    traces = traces_by_root("production_order", orders)
    for number, order in sorted(orders.items()):
        for component in _components(order):
            material = str(component.get("material", ""))
            if (order.plant_id, material) not in pairs:
                continue
            _judge(batch, findings, order, number, material, number in started, supply, traces.get(number))


def _components(order: Fact) -> list[dict]:
    components = order.data.get("components")
    return [c for c in components if isinstance(c, dict)] if isinstance(components, list) else []


def _judge(batch, findings, order: Fact, number: str, material: str, started: bool, supply, trace_id):
    key = f"{number} {material}"
    ref = rule_ref(RULE, key)
    start = parse_moment(order.data.get("scheduled_start"))
    threshold = batch.thresholds.of(RULE, plant_id=order.plant_id, material=material)
    if started or start is None or not threshold.enabled:
        findings.ok(ref, FINE)
        return
    need_by = start - timedelta(minutes=threshold.value)
    slipped = [
        s
        for s in supply.get((order.plant_id, material), ())
        if not s.arrived and s.first_eta and s.latest_eta and s.first_eta <= need_by < s.latest_eta
    ]
    if not slipped:
        findings.ok(ref, FINE)
        return
    worst = max(slipped, key=lambda s: (s.latest_eta, s.id))
    after_start = worst.latest_eta > start
    plant = order.text("plant")
    summary = (
        f"Production order {number} at {plant} starts {_when(start)} and needs {material}; shipment "
        f"{worst.id}{f' from {worst.supplier}' if worst.supplier else ''} bringing it was due {_when(worst.first_eta)} "
        f"and is now expected {_when(worst.latest_eta)} — "
        f"{'after the start' if after_start else 'inside the buffer'}; buffer {threshold.value:g} min."
    )
    findings.problem(
        finding(
            rule=RULE,
            key=key,
            kind=Case.Kind.PRODUCTION_AT_RISK,
            occurred_at=max(order.received_at, worst.heard_at),
            title=f"Production order {number} at risk: {material} on {worst.id} arrives {_when(worst.latest_eta)}",
            summary=summary,
            severity=Case.Severity.CRITICAL if after_start else Case.Severity.HIGH,
            plant_id=order.plant_id,
            trace_id=trace_id,
            evidence={
                "production_order": number,
                "material": material,
                "scheduled_start": start.isoformat(),
                "buffer_minutes": threshold.value,
                "shipment_id": worst.id,
                "first_eta": worst.first_eta.isoformat(),
                "latest_eta": worst.latest_eta.isoformat(),
                "other_shipments": sorted(s.id for s in slipped if s is not worst),
                "events": sorted({order.pk, *worst.events}),
            },
        )
    )
