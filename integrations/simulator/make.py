"""Make (production order → MES operations → quality → put-away) and order-to-ship flows."""

from __future__ import annotations

from typing import Any

from .catalog import PRODUCTS, ROUTINGS, TIME_ZONES, Product, carriers, supplies
from .model import Flow, FlowContext, Step, ce_step, compact, fill
from .network import ERP, QMS, mes, wms
from .telemetry import hops, posting

_DEFECTS = [
    ("DIM-02", "Dimension out of tolerance at final inspection"),
    ("SURF-01", "Surface scratches above limit"),
    ("LEAK-03", "Leak test failed on sample"),
    ("TORQ-01", "Screw torque out of specification"),
    ("SOLD-04", "Solder voids above IPC class 3 limit"),
]


def _shift(ctx: FlowContext, due: float, plant: str) -> str:
    hour = int(ctx.clock.local(due, TIME_ZONES[plant])[11:13])
    return "EARLY" if 6 <= hour < 14 else "LATE" if 14 <= hour < 22 else "NIGHT"


def _released(
    ctx: FlowContext, plant: str, order: str, product: Product, quantity: int, start: float, finish: float
) -> Step:
    parts = ctx.rng.sample(supplies(plant), min(3, len(supplies(plant))))
    data = compact(
        {
            "production_order": order,
            "plant": plant,
            "material": product.number,
            "quantity": quantity,
            "unit": "EA",
            "released_at": ctx.clock.utc(0.0),
            "scheduled_start": ctx.clock.local(start, TIME_ZONES[plant]),
            "scheduled_finish": ctx.clock.local(finish, TIME_ZONES[plant]),
            "customer_order": ctx.numbers.next("customer_order") if ctx.chance(0.3) else None,
            "work_center": ROUTINGS[plant][0][1],
            "components": [
                {"material": m.number, "quantity": quantity * ctx.rng.choice([1, 2, 4]), "unit": m.unit}
                if m.unit == "EA"
                else {
                    "material": m.number,
                    "quantity": round(quantity * ctx.rng.uniform(0.5, 6), 1),
                    "unit": m.unit,
                }
                for _, m in parts
            ],
        }
    )
    note = f"ERP releases production order {order}: {quantity} x {product.number} at {plant}"
    return ce_step(ctx.rng, ctx.clock, 0.0, ERP, "production_order.released", data, note, subject=order)


def make_to_stock(ctx: FlowContext) -> Flow:
    """A production order through 2-4 operations, an occasional quality hold, then put-away."""
    rng = ctx.rng
    plant = rng.choice(sorted(PRODUCTS))
    product = rng.choice(PRODUCTS[plant])
    quantity = product.lot_size * rng.randint(1, 4)
    order = ctx.numbers.next("production_order")
    operations = ROUTINGS[plant][: rng.randint(2, 4)]
    start = ctx.minutes(15, 40)
    spans = [ctx.minutes(15, 40) for _ in operations]
    flow = Flow("make", order, [])
    release = _released(ctx, plant, order, product, quantity, start, start + sum(spans))
    flow.steps.append(release)
    if ctx.chance(0.3):
        flow.steps += hops(
            ctx,
            0.0,
            release,
            source_system=ERP,
            target_system=mes(plant),
            refs={"production_order": order, "plant": plant, "material": product.number},
            correlation_id=order,
        )
    started = start + ctx.minutes(-3, 10)
    flow.steps.append(
        ce_step(
            ctx.rng,
            ctx.clock,
            started,
            mes(plant),
            "production_order.started",
            {
                "production_order": order,
                "plant": plant,
                "started_at": ctx.clock.local(started, TIME_ZONES[plant]),
                "material": product.number,
                "work_center": operations[0][1],
                "operation": operations[0][0],
                "shift": _shift(ctx, started, plant),
            },
            f"{mes(plant)} starts {order}",
            subject=order,
        )
    )
    lot = f"FG{ctx.clock.at(started).strftime('%y%m%d')}-{rng.randint(1, 99):02d}"
    good, at = quantity, started
    for index, ((operation, work_center), span) in enumerate(zip(operations, spans, strict=True)):
        at += span
        scrap = round(good * rng.uniform(0, 0.03)) if rng.random() < 0.5 else 0
        good -= scrap
        final = index == len(operations) - 1
        flow.steps.append(
            ce_step(
                ctx.rng,
                ctx.clock,
                at,
                mes(plant),
                "operation.completed",
                {
                    "production_order": order,
                    "plant": plant,
                    "operation": operation,
                    "work_center": work_center,
                    "completed_at": ctx.clock.local(at, TIME_ZONES[plant]),
                    "yield_quantity": good,
                    "scrap_quantity": scrap,
                    "unit": "EA",
                    "final": final,
                    "material": product.number,
                    "lot": lot,
                },
                f"{mes(plant)} completes {operation} of {order}: {good} good, {scrap} scrap",
                subject=order,
            )
        )
    put_away = at + ctx.minutes(10, 20)
    if good > 0 and ctx.chance(0.12):
        put_away = _quality_hold(ctx, flow, plant, order, product.number, lot, good, at)
    if good > 0:
        flow.steps.append(_put_away(ctx, plant, product.number, lot, good, put_away))
        if ctx.chance(0.5):
            flow.steps.append(
                posting(
                    ctx,
                    put_away + ctx.minutes(1, 3),
                    transaction="production_confirmation",
                    reference=order,
                    failure_rate=0.04,
                    refs={"production_order": order, "plant": plant, "material": product.number, "lot": lot},
                )
            )
    return flow.ordered()


def _quality_hold(
    ctx: FlowContext, flow: Flow, plant: str, order: str, material: str, lot: str, quantity: int, at: float
) -> float:
    """QMS holds the lot, then releases it after re-inspection; returns when put-away can happen."""
    code, reason = ctx.rng.choice(_DEFECTS)
    notification = ctx.numbers.next("notification")
    common = {
        "plant": plant,
        "lot": lot,
        "material": material,
        "notification": notification,
        "quantity": quantity,
        "unit": "EA",
        "production_order": order,
    }
    hold, release = at + ctx.minutes(5, 15), at + ctx.minutes(30, 75)
    flow.steps.append(
        ce_step(
            ctx.rng,
            ctx.clock,
            hold,
            QMS,
            "quality.exception",
            {
                **common,
                "action": "hold",
                "occurred_at": ctx.clock.utc(hold),
                "reason": reason,
                "defect_code": code,
            },
            f"QMS holds lot {lot} of {order} ({code})",
            subject=lot,
        )
    )
    flow.steps.append(
        ce_step(
            ctx.rng,
            ctx.clock,
            release,
            QMS,
            "quality.exception",
            {
                **common,
                "action": "release",
                "occurred_at": ctx.clock.utc(release),
                "reason": "Re-inspection passed (100 % check)",
            },
            f"QMS releases lot {lot}",
            subject=lot,
        )
    )
    return release + ctx.minutes(5, 15)


def _put_away(ctx: FlowContext, plant: str, material: str, lot: str, quantity: int, due: float) -> Step:
    transfer = ctx.numbers.next("transfer")
    return ce_step(
        ctx.rng,
        ctx.clock,
        due,
        wms(plant),
        "inventory.transferred",
        {
            "transfer_id": transfer,
            "plant": plant,
            "material": material,
            "quantity": quantity,
            "unit": "EA",
            "lot": lot,
            "from_storage_location": "PR01",
            "to_storage_location": "FG01",
            "transferred_at": ctx.clock.local(due, TIME_ZONES[plant]),
            "reason": "Finished goods put-away",
        },
        f"{wms(plant)} puts away {quantity} x {material} (lot {lot})",
        subject=transfer,
    )


def order_to_ship(ctx: FlowContext) -> Flow:
    """A plant ships finished goods for one or two customer orders; the ERP posts the goods issue."""
    rng = ctx.rng
    plant = rng.choice(sorted(PRODUCTS))
    products = rng.sample(PRODUCTS[plant], rng.randint(1, len(PRODUCTS[plant])))
    delivery = ctx.numbers.next("delivery")
    carrier, pattern = rng.choice(carriers("road", plant))
    lines: list[dict[str, Any]] = []
    for number, product in enumerate(products, start=1):
        lines.append(
            {
                "line": 10 * number,
                "customer_order": ctx.numbers.next("customer_order"),
                "order_line": 10,
                "material": product.number,
                "quantity": product.lot_size * rng.randint(1, 3),
                "unit": "EA",
                "lot": f"FG{ctx.clock.at(0).strftime('%y%m%d')}-{rng.randint(1, 99):02d}",
            }
        )
    data = {
        "shipment_id": delivery,
        "plant": plant,
        "customer": products[0].customer,
        "shipped_at": ctx.clock.local(0.0, TIME_ZONES[plant]),
        "carrier": carrier,
        "tracking_number": fill(pattern, rng),
        "estimated_delivery": ctx.clock.date(0.0, TIME_ZONES[plant], days=rng.randint(1, 3)),
        "lines": lines,
    }
    flow = Flow("order_to_ship", delivery, [])
    shipped = ce_step(
        ctx.rng,
        ctx.clock,
        0.0,
        wms(plant),
        "customer_shipment.confirmed",
        data,
        f"{wms(plant)} confirms goods issue {delivery} to {data['customer']}",
        subject=delivery,
    )
    flow.steps.append(shipped)
    posted = ctx.minutes(1, 5)
    if ctx.chance(0.5):
        carried = hops(
            ctx,
            0.0,
            shipped,
            source_system=wms(plant),
            target_system=ERP,
            refs={"shipment_id": delivery, "plant": plant, "customer_order": lines[0]["customer_order"]},
            correlation_id=delivery,
        )
        flow.steps += carried
        posted = max(posted, carried[-1].due + rng.uniform(2, 20))
    flow.steps.append(
        posting(
            ctx,
            posted,
            transaction="goods_issue",
            reference=delivery,
            failure_rate=0.03,
            refs={"shipment_id": delivery, "customer_order": lines[0]["customer_order"], "plant": plant},
        )
    )
    return flow.ordered()
