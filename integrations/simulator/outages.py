"""Delivery target outages for the demo: now and then one sandbox receiver standing in for a
target (ERP, supplier portal, TMS) refuses every message for a few minutes, so its deliveries
dead-letter into one case per plant, which a handler retries once the target is back.

A refusal (422), not an unavailability (503): a target that is merely down is held back by its
circuit breaker and retried until it returns, which makes no case within a demo's minutes. The
switch sets the sandbox receiver's error rate through its service, in the simulator's own
process (`manage.py simulate` runs inside Django), and puts the previous settings back after;
where that is impossible (no database) the outage is only logged as skipped, never raised.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: The demo's sandbox receivers (integrations.delivery.demo.DEMO_TARGETS).
RECEIVERS = ("erp", "portal", "tms")
OUTAGE_SECONDS = 180.0
FIRST_AFTER_FLOWS = 12  # the first outage comes early (about two minutes into a demo)

Switch = Callable[[str, bool], None]


_before: dict[str, tuple[float, int]] = {}  # receiver → (error_rate, error_status) before the outage


def sandbox_switch(code: str, down: bool) -> None:
    """Make sandbox receiver `code` refuse everything, or put its settings back (a no-op,
    logged, when it cannot)."""
    try:
        from integrations.sandbox.models import SandboxReceiver
        from integrations.sandbox.services import sandbox_receiver_configure

        receiver = SandboxReceiver.objects.filter(code=code).first()
        if receiver is None:
            return
        if down:
            _before[code] = (receiver.error_rate, receiver.error_status)
            sandbox_receiver_configure(receiver=receiver, error_rate=1.0, error_status=422)
        elif code in _before:
            rate, status = _before.pop(code)
            sandbox_receiver_configure(receiver=receiver, error_rate=rate, error_status=status)
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
            self.log(f"fault: delivery target '{self.down}' refuses every message for {self.seconds:.0f} s")

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.down and now >= self.until:
            self.stop()

    def stop(self) -> None:
        if self.down:
            self.switch(self.down, False)
            self.log(f"delivery target '{self.down}' is back")
            self.down = None
