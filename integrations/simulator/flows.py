"""Business flows as timed messages: the generators and the factory that mixes them.

Pure Python (no Django). Given the same seed, start time and speed, `FlowFactory` produces the
same flows, message for message. Every CloudEvent step validates against its contract unless a
fault made it invalid on purpose (see `faults.inject`).

Typical use::

    factory = FlowFactory(random.Random(7), faults=FaultMix())
    flow = factory.next(start=datetime.now(UTC), speed=60)
    for step in flow.steps:   # in due order; step.due is in simulated seconds
        ...
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from .faults import inject
from .make import make_to_stock, order_to_ship
from .model import Clock, FaultMix, Flow, FlowContext, Numbers, Step
from .procure import procure_to_receive

__all__ = [
    "FLOW_MIX",
    "GENERATORS",
    "FaultMix",
    "Flow",
    "FlowFactory",
    "Step",
    "make_to_stock",
    "order_to_ship",
    "procure_to_receive",
]

GENERATORS: dict[str, Callable[[FlowContext], Flow]] = {
    "procure_to_receive": procure_to_receive,
    "make": make_to_stock,
    "order_to_ship": order_to_ship,
}
# How often each kind starts: inbound supply dominates a control tower's traffic.
FLOW_MIX: dict[str, float] = {"procure_to_receive": 0.7, "make": 0.22, "order_to_ship": 0.08}


class FlowFactory:
    """Creates flows one after another from one seeded `random.Random`.

    Guarantees: deterministic for a given rng state and sequence of `next()` arguments; business
    numbers (PO, ASN, receipt, …) never repeat within a factory; the first flow is always a
    procure-to-receive, so a new demo shows a complete PO trace first.
    """

    def __init__(
        self, rng: random.Random, *, faults: FaultMix | None = None, epcis_share: float = 0.2
    ) -> None:
        if not 0.0 <= epcis_share <= 1.0:
            raise ValueError(f"epcis_share must be between 0 and 1, not {epcis_share}")
        self.rng = rng
        self.faults = faults if faults is not None else FaultMix()
        self.epcis_share = epcis_share
        self.numbers = Numbers(random.Random(rng.getrandbits(64)))
        self.created = 0

    def next(self, *, start: datetime, speed: float, kind: str | None = None) -> Flow:
        """The next flow, starting at wall-clock `start`, with `speed` simulated seconds per real one."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        # Each flow has its own rng so a flow's content does not depend on how others were drawn.
        flow_rng = random.Random(self.rng.getrandbits(64))
        if kind is None:
            kinds, weights = zip(*FLOW_MIX.items(), strict=True)
            kind = "procure_to_receive" if self.created == 0 else flow_rng.choices(kinds, weights)[0]
        ctx = FlowContext(flow_rng, Clock(start, speed), self.numbers, self.faults, self.epcis_share)
        self.created += 1
        return inject(ctx, GENERATORS[kind](ctx))


def flows_generate(
    count: int,
    *,
    seed: int,
    start: datetime,
    speed: float = 60.0,
    faults: FaultMix | None = None,
    epcis_share: float = 0.2,
) -> list[Flow]:
    """`count` flows from a fresh factory seeded with `seed` (the same arguments give the same flows)."""
    factory = FlowFactory(random.Random(seed), faults=faults, epcis_share=epcis_share)
    return [factory.next(start=start, speed=speed) for _ in range(count)]
