"""Delivery target outages for the demo: now and then one sandbox receiver standing in for a
target (ERP, supplier portal, TMS) answers 503 for a few minutes, so deliveries retry, dead-letter
and open a case, and recover once it is back (retry them from the case).

The switch flips the sandbox receiver's `outage` flag through its service, in the simulator's
own process (`manage.py simulate` runs inside Django); where that is impossible (no database)
the outage is only logged as skipped, never raised.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: The demo's sandbox receivers (integrations.delivery.demo.DEMO_TARGETS).
RECEIVERS = ("erp", "portal", "tms")
OUTAGE_SECONDS = 240.0  # long enough to exhaust the demo targets' 5 attempts (5 s … 120 s backoff)
FIRST_AFTER_FLOWS = 12  # the first outage comes early (about two minutes into a demo)

Switch = Callable[[str, bool], None]


def sandbox_switch(code: str, down: bool) -> None:
    """Set sandbox receiver `code`'s outage flag (a no-op, logged, when it cannot)."""
    try:
        from integrations.sandbox.models import SandboxReceiver
        from integrations.sandbox.services import sandbox_receiver_configure

        receiver = SandboxReceiver.objects.filter(code=code).first()
        if receiver is not None:
            sandbox_receiver_configure(receiver=receiver, outage=down)
    except Exception as exc:  # noqa: BLE001 — a demo nicety must never stop the simulator
        logger.warning("could not switch the outage of sandbox receiver %s: %s", code, exc)


class Outages:
    """Starts at most one outage at a time: at the `FIRST_AFTER_FLOWS`th flow, then with
    `probability` per flow; ends each after `seconds` (and any at `stop`)."""

    def __init__(
        self,
        rng: random.Random,
        probability: float,
        *,
        switch: Switch = sandbox_switch,
        seconds: float = OUTAGE_SECONDS,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.rng, self.probability, self.switch, self.seconds = rng, probability, switch, seconds
        self.log = log or (lambda _: None)
        self.down: str | None = None
        self.until = 0.0
        self.started = 0

    def flow_started(self, flows_started: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.tick(now)
        if self.down or self.probability <= 0:
            return
        if flows_started == FIRST_AFTER_FLOWS or self.rng.random() < self.probability:
            self.down, self.until = self.rng.choice(RECEIVERS), now + self.seconds
            self.started += 1
            self.switch(self.down, True)
            self.log(f"fault: delivery target '{self.down}' is down for {self.seconds:.0f} s")

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.down and now >= self.until:
            self.stop()

    def stop(self) -> None:
        if self.down:
            self.switch(self.down, False)
            self.log(f"delivery target '{self.down}' is back")
            self.down = None
