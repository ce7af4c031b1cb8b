"""What the trace benchmark seeds: purchase orders, their shipments and every event about them.

A seeded generator that touches no database. `plan_events(events=N, …)` returns exactly N
`Spec`s — one per business event, in no particular order — for about N/10 procure-to-receive
orders, as the systems of a real network send them:

- the ERP releases each PO (1–6 lines) and posts each goods receipt (a few postings fail, most
  of those are posted again later);
- the supplier portal confirms the PO and sends one ASN per shipment, spelling POs "PO-…";
- the carrier TMS reports milestones (picked up, in transit, sometimes delayed, arrived,
  delivered) for three shipments in four; the plant's WMS receives the goods;
- the middleware reports telemetry hops for the PO and receipt messages;
- 3 % of shipments carry two POs of the same supplier and plant (their events join both traces);
  12 % of orders ship in 2–3 deliveries; 4 % stall part-way (late or exception traces); 0.3 %
  have a retry storm of 20–150 telemetry events (each hop's `message_id` is the CloudEvents id of
  the event it carries; a receipt's first hop names nothing else); orders released in the last days are still
  in flight (events after `now` are never sent);
- a few blanket POs with hundreds of call-off shipments give traces of 1,000–5,000 events.

Orders are released uniformly over the 120 days before `now` and numbered in release order.
`event_data(spec)` builds the CloudEvent data the event's contract accepts (a few hundred bytes,
shaped like the contract examples); `traces_of(spec)` names the orders whose traces the event
joins — what correlation's graph walk gives for this network's shapes (`--check` verifies it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

DAY = 86_400.0
HOUR = 3_600.0
SPAN_DAYS = 120
PLANTS = {
    "P-DE10": "Europe/Berlin",
    "P-DE20": "Europe/Berlin",
    "P-PL10": "Europe/Warsaw",
    "P-CZ10": "Europe/Prague",
    "P-FR10": "Europe/Paris",
    "P-IT10": "Europe/Rome",
    "P-US10": "America/Chicago",
    "P-US20": "America/New_York",
    "P-MX10": "America/Mexico_City",
    "P-CN10": "Asia/Shanghai",
    "P-IN10": "Asia/Kolkata",
    "P-JP10": "Asia/Tokyo",
}
SUPPLIERS = [f"S-{10_000 + i}" for i in range(240)]
ERP, PORTAL, TMS, MIDDLEWARE = "ERP-BENCH", "PORTAL-BENCH", "TMS-BENCH", "MW-BENCH"
PORTAL_PO_PREFIX = "PO-"
FIRST_PO = 4_500_100_000
CARRIERS = ("DHLF", "DSV", "KN", "UPS")
DESCRIPTIONS = (
    "Aluminium housing, machined",
    "Gasket EPDM 80x60",
    "Hex bolt M8x40 8.8 zinc",
    "PCB assembly controller rev C",
    "Steel bracket 3 mm galvanised",
    "Cable harness 12-pin 1.5 m",
)
LOCATIONS = (
    ("Hub Kassel", "Kassel", "DE", "DEKSF"),
    ("Hub Poznan", "Poznan", "PL", "PLPOZ"),
    ("Gateway Rotterdam", "Rotterdam", "NL", "NLRTM"),
    ("Hub Memphis", "Memphis", "US", "USMEM"),
)


def iso(ts: float) -> str:
    """An RFC 3339 UTC timestamp with seconds, as the sources send them."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


@dataclass(eq=False, slots=True)
class Line:
    number: int
    material: str
    quantity: int
    price: float
    requested: float


@dataclass(eq=False, slots=True)
class Order:
    """One purchase order, the root of one trace (`trace` is its id once the loader assigns it)."""

    po: str
    plant: str
    supplier: str
    released: float
    lines: list[Line]
    trace: int = 0


@dataclass(eq=False, slots=True)
class Shipment:
    asn: str
    tracking: str  # "" when the carrier reports no tracking
    carrier: str
    receipt: str
    items: list[tuple[Order, Line, int]]
    dispatched: float
    eta: float
    orders: tuple[Order, ...] = ()


@dataclass(slots=True)
class Spec:
    """One event to seed: when it happened and arrived, its type, and what it is about."""

    at: float
    received: float
    type: str
    order: Order
    shipment: Shipment | None = None
    detail: str = ""  # milestone, posting status, telemetry hop/status, confirmation status
    cloud_id: str = ""  # the CloudEvents id
    message: str = ""  # postings and telemetry: the CloudEvents id of the message carried
    # telemetry: hop, subject event type, retry count, latency; "bare": names no business object
    extra: dict | None = None


def traces_of(spec: Spec) -> tuple[Order, ...]:
    """The orders whose traces `spec` joins: every order its shipment carries (the event names
    the shipment, its tracking number or its receipt), else its own order; none for a bare
    telemetry hop (it names only its message: the trace page finds it by message id)."""
    if spec.extra is not None and spec.extra.get("bare"):
        return ()
    return spec.shipment.orders if spec.shipment is not None else (spec.order,)


def system_of(spec: Spec) -> str:
    """The code of the system that sends `spec` (also its CloudEvents source)."""
    if spec.type == "goods.received":
        return f"WMS-{spec.order.plant}"
    return {
        "purchase_order.released": ERP,
        "erp.posting": ERP,
        "supplier.confirmation": PORTAL,
        "shipment.dispatched": PORTAL,
        "shipment.milestone": TMS,
        "integration.telemetry": MIDDLEWARE,
    }[spec.type]


class Planner:
    """Generates orders and their events; every random choice comes from one seeded `Random`."""

    def __init__(self, *, seed: int, now: float) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.orders: list[Order] = []
        self.counters = {"asn": 80_000_000, "gr": 0, "doc": 5_000_000_000}

    # --- identifiers ------------------------------------------------------------------------
    def next_id(self, name: str) -> int:
        self.counters[name] += 1
        return self.counters[name]

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def lag(self) -> float:
        """Seconds from business time to arrival: median ~20 s, a tail of minutes, rare hours."""
        if self.rng.random() < 0.005:
            return self.rng.uniform(HOUR, 8 * HOUR)
        return min(self.rng.lognormvariate(3.0, 1.2), 1_800.0)

    def spec(self, at: float, type_: str, order: Order, **fields) -> Spec:
        at = float(int(at))  # business times are sent with whole seconds
        return Spec(at=at, received=at + self.lag(), type=type_, order=order, cloud_id=self.uuid(), **fields)

    # --- orders -----------------------------------------------------------------------------
    def order(self, *, plant: str, supplier: str, released: float, lines: int) -> Order:
        rng = self.rng
        base = 100_000 + SUPPLIERS.index(supplier) * 40
        order = Order(
            po="",
            plant=plant,
            supplier=supplier,
            released=released,
            lines=[
                Line(
                    number=10 * (i + 1),
                    material=f"RM-{base + rng.randrange(40)}",
                    quantity=rng.choice((50, 100, 120, 250, 500, 1_000, 1_200, 5_000)),
                    price=round(rng.uniform(0.05, 250.0), 2),
                    requested=released + rng.uniform(10, 30) * DAY,
                )
                for i in range(lines)
            ],
        )
        self.orders.append(order)
        return order

    def order_events(self, order: Order) -> list[Spec]:
        """Release, its telemetry hops, and the supplier's confirmation(s) (3 % never confirm)."""
        rng, t0 = self.rng, order.released
        specs = [self.spec(t0, "purchase_order.released", order)]
        message = specs[0].cloud_id
        for hop in range(1 if rng.random() < 0.8 else 2):
            specs.append(
                self.telemetry(order, None, t0 + 2 + 3 * hop, message, hop, "purchase_order.released")
            )
        if rng.random() < 0.003:  # a retry storm: the portal adapter keeps failing
            specs += self.retry_storm(order, t0 + 60, message)
        if rng.random() < 0.97:
            confirmed = t0 + rng.uniform(1, 26) * HOUR  # budget 24 h: ~8 % late
            specs.append(self.spec(confirmed, "supplier.confirmation", order, detail="confirmed"))
            if rng.random() < 0.08:
                later = confirmed + rng.uniform(4, 72) * HOUR
                specs.append(self.spec(later, "supplier.confirmation", order, detail="revised"))
        return specs

    def retry_storm(self, order: Order, start: float, message: str) -> list[Spec]:
        count = self.rng.randint(20, 150)
        return [
            self.telemetry(order, None, start + i * 300, message, 1, "purchase_order.released", retry=i + 1)
            for i in range(count)
        ]

    def telemetry(
        self, order: Order, shipment: Shipment | None, at: float, message: str, hop: int, about: str, retry=0
    ) -> Spec:
        """A middleware hop carrying message `message`; the WMS's outbound hop of a receipt
        reports only the message id (it knows nothing of POs)."""
        status = "failed" if retry else ("delivered" if self.rng.random() < 0.97 else "failed")
        latency = round(self.rng.uniform(40, 2_500))
        bare = about == "goods.received" and hop == 0
        return self.spec(
            at,
            "integration.telemetry",
            order,
            shipment=shipment,
            message=message,
            detail=status,
            extra={"hop": hop, "about": about, "retry": retry, "latency": latency, "bare": bare},
        )

    # --- shipments --------------------------------------------------------------------------
    def shipment(self, items: list[tuple[Order, Line, int]], dispatched: float) -> Shipment:
        rng = self.rng
        carrier = rng.choice(CARRIERS)
        tracked = rng.random() < 0.75
        orders = tuple(dict.fromkeys(order for order, _, _ in items))
        return Shipment(
            asn=f"ASN-{self.next_id('asn')}",
            tracking=f"{carrier[:2]}{rng.getrandbits(56) % 10**15:015d}" if tracked else "",
            carrier=carrier,
            receipt=f"GR-{orders[0].plant}-{self.next_id('gr'):07d}",
            items=items,
            dispatched=dispatched,
            eta=dispatched + rng.uniform(1, 4) * DAY,
            orders=orders,
        )

    def shipment_events(self, shipment: Shipment) -> list[Spec]:
        """ASN, carrier milestones, goods receipt, ERP posting(s) and the receipt's telemetry."""
        rng, order = self.rng, shipment.orders[0]
        specs = [self.spec(shipment.dispatched, "shipment.dispatched", order, shipment=shipment)]
        arrived = shipment.eta + rng.uniform(-10, 2) * HOUR  # due at the ASN's ETA: 1 in 6 late
        if shipment.tracking:
            specs += self.milestones(shipment, arrived)
        received = arrived + (rng.uniform(0.5, 20) if rng.random() < 0.92 else rng.uniform(24, 72)) * HOUR
        specs.append(self.spec(received, "goods.received", order, shipment=shipment))
        message = specs[-1].cloud_id
        for hop in range(rng.choice((1, 1, 1, 2, 2, 3))):
            specs.append(self.telemetry(order, shipment, received + 1 + hop, message, hop, "goods.received"))
        posted = received + (rng.uniform(5, 600) if rng.random() < 0.95 else rng.uniform(900, 7_200))
        failed = rng.random() < 0.04
        specs.append(
            self.spec(
                posted, "erp.posting", order, shipment=shipment, message=message, detail="failed" * failed
            )
        )
        if failed and rng.random() < 0.6:
            again = posted + rng.uniform(2, 48) * HOUR
            specs.append(self.spec(again, "erp.posting", order, shipment=shipment, message=message))
        return specs

    def milestones(self, shipment: Shipment, arrived: float) -> list[Spec]:
        rng, order = self.rng, shipment.orders[0]
        moments = [("picked_up", shipment.dispatched + rng.uniform(0.5, 3) * HOUR)]
        if rng.random() < 0.3:
            moments.append(("in_transit", shipment.dispatched + rng.uniform(8, 20) * HOUR))
        if rng.random() < 0.1:
            moments.append(("delayed", shipment.dispatched + rng.uniform(20, 30) * HOUR))
        if rng.random() < 0.3:
            moments.append(("arrived", arrived - rng.uniform(0.2, 1) * HOUR))
        moments.append(("delivered", arrived))
        return [self.spec(at, "shipment.milestone", order, shipment=shipment, detail=m) for m, at in moments]

    def deliveries(self, order: Order, count: int) -> list[list[tuple[Order, Line, int]]]:
        """The order's lines split into `count` deliveries (a partial quantity each)."""
        return [[(order, line, max(1, line.quantity // count)) for line in order.lines] for _ in range(count)]

    # --- groups -----------------------------------------------------------------------------
    def group(self) -> list[Spec]:
        """One order (or two sharing a consolidated first shipment), with all its events."""
        rng = self.rng
        plant, supplier = rng.choice(list(PLANTS)), rng.choice(SUPPLIERS)
        released = self.now - rng.uniform(0, SPAN_DAYS) * DAY
        n_orders = 2 if rng.random() < 0.03 else 1
        orders = [
            self.order(plant=plant, supplier=supplier, released=released + i * HOUR, lines=self.line_count())
            for i in range(n_orders)
        ]
        specs = [spec for order in orders for spec in self.order_events(order)]
        n_shipments = rng.choices((1, 2, 3), weights=(88, 9, 3))[0]
        first = released + rng.uniform(3, 12) * DAY
        split = [self.deliveries(order, n_shipments) for order in orders]
        for k in range(n_shipments):
            items = [item for parts in split for item in parts[k]]
            dispatched = first + k * rng.uniform(2, 6) * DAY
            if k == 0 or n_orders == 1:
                specs += self.shipment_events(self.shipment(items, dispatched))
            else:  # later deliveries of a consolidated pair go separately, one per order
                for order in orders:
                    mine = [item for item in items if item[0] is order]
                    specs += self.shipment_events(self.shipment(mine, dispatched))
        return self.cut(specs)

    def line_count(self) -> int:
        return self.rng.choices((1, 2, 3, 4, 5, 6), weights=(40, 25, 15, 10, 6, 4))[0]

    def cut(self, specs: list[Spec], *, may_stall: bool = True) -> list[Spec]:
        """What has been sent by `now`, oldest first; a stalled flow (4 %) sends nothing after
        its stall. A shipment's events go only with its ASN (the event linking it to its POs)."""
        stop = self.now
        if may_stall and self.rng.random() < 0.04:
            stop = min(stop, min(s.at for s in specs) + self.rng.uniform(0, 15) * DAY)
        sent = [s for s in specs if s.received <= self.now and s.at <= stop]
        announced = {id(s.shipment) for s in sent if s.type == "shipment.dispatched"}
        sent = [s for s in sent if s.shipment is None or id(s.shipment) in announced]
        sent.sort(key=lambda s: s.at)
        return sent

    def blanket(self, events: int) -> list[Spec]:
        """A blanket PO with ~events/7 call-off shipments over the whole span (one huge trace)."""
        rng = self.rng
        released = self.now - (SPAN_DAYS - 2) * DAY
        order = self.order(
            plant=rng.choice(list(PLANTS)), supplier=rng.choice(SUPPLIERS), released=released, lines=12
        )
        specs = self.order_events(order)
        calls = max(1, events // 7)
        for k in range(calls):
            dispatched = released + 3 * DAY + k * (SPAN_DAYS - 12) * DAY / calls
            lines = rng.sample(order.lines, rng.randint(1, 3))
            specs += self.shipment_events(self.shipment([(order, line, 40) for line in lines], dispatched))
        return self.cut(specs, may_stall=False)


def heavy_sizes(events: int) -> list[int]:
    """Target event counts of the blanket-PO traces: 5,000 down to 1,000 at 1M events."""
    return [max(40, events // d) for d in (200, 333, 500, 700, 1_000)]


def plan_events(
    *, events: int, seed: int, now: float, progress: Callable[[int], None] | None = None
) -> list[Spec]:
    """Exactly `events` specs (the last order loses its latest events if needed; its ASN goes
    before anything naming its shipment); orders are numbered FIRST_PO, FIRST_PO+1, … in release
    order. Deterministic for (events, seed, now)."""
    planner = Planner(seed=seed, now=now)
    specs: list[Spec] = []
    for size in heavy_sizes(events):
        specs += planner.blanket(size)
    while len(specs) < events:
        specs += planner.group()[: events - len(specs)]
        if progress is not None and len(planner.orders) % 10_000 == 0:
            progress(len(specs))
    del specs[events:]
    for number, order in enumerate(sorted(planner.orders, key=lambda o: o.released)):
        order.po = str(FIRST_PO + number)
    return specs
