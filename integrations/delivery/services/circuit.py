"""The circuit breaker of a target: stop hammering a target that is down, probe, then resume.

States live on the `Target` row and change only through conditional updates, so any number of
workers agree: CLOSED → (N consecutive unhealthy answers) → OPEN → (after `circuit_probe_seconds`
one worker wins the switch to HALF_OPEN and sends one probe) → CLOSED on success, OPEN again on
failure. A probe whose worker died is taken over once its timeout has passed. Each change of
the circuit's state or of its failure count is announced (`Kind.TARGET_CHANGED`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F

from controltower.changes import Kind, announce
from integrations.delivery.models import Target
from integrations.delivery.services.policy import Outcome

# While another worker probes, others look again this soon.
PROBE_WAIT = timedelta(seconds=2)


@dataclass(frozen=True)
class Gate:
    go: bool
    probe: bool = False
    wait_until: datetime | None = None


def circuit_gate(*, target: Target, now: datetime) -> Gate:
    """May a delivery to `target` be sent now (and is it the probe)?"""
    if target.circuit == Target.Circuit.CLOSED:
        return Gate(go=True)
    opened = target.circuit_opened_at or now
    if target.circuit == Target.Circuit.OPEN:
        reopen_at = opened + timedelta(seconds=target.circuit_probe_seconds)
        if now < reopen_at:
            return Gate(go=False, wait_until=reopen_at)
        won = Target.objects.filter(
            pk=target.pk, circuit=Target.Circuit.OPEN, circuit_opened_at=opened
        ).update(circuit=Target.Circuit.HALF_OPEN, circuit_opened_at=now)
        if won:
            announce(Kind.TARGET_CHANGED, target.pk)
        return Gate(go=True, probe=True) if won else Gate(go=False, wait_until=now + PROBE_WAIT)
    # HALF_OPEN: someone is probing; take over only if that probe must have ended long ago.
    stale_at = opened + timedelta(seconds=target.timeout_seconds + 30)
    if now >= stale_at:
        won = Target.objects.filter(
            pk=target.pk, circuit=Target.Circuit.HALF_OPEN, circuit_opened_at=opened
        ).update(circuit_opened_at=now)
        if won:
            return Gate(go=True, probe=True)
    return Gate(go=False, wait_until=now + PROBE_WAIT)


def circuit_record(*, target: Target, outcome: Outcome, now: datetime) -> None:
    """Count the answer toward the circuit: an unhealthy one may open it, a healthy one closes it.

    A 429 counts neither way (the target is up but busy; Retry-After governs). Writes happen only
    when something changes, so a healthy target's hot path costs no update. The circuit opening
    or closing is announced as `TARGET_CHANGED` (targets are not scoped).
    """
    if outcome.target_unhealthy:
        Target.objects.filter(pk=target.pk).update(consecutive_failures=F("consecutive_failures") + 1)
        tripped = (
            Target.objects.filter(pk=target.pk, consecutive_failures__gte=target.circuit_threshold)
            .exclude(circuit=Target.Circuit.OPEN)
            .update(circuit=Target.Circuit.OPEN, circuit_opened_at=now)
        )
        if tripped:
            announce(Kind.TARGET_CHANGED, target.pk)
    elif outcome.delivered or outcome.status_code is not None and outcome.error_class != "http_429":
        if target.circuit != Target.Circuit.CLOSED or target.consecutive_failures:
            Target.objects.filter(pk=target.pk).update(
                circuit=Target.Circuit.CLOSED, consecutive_failures=0, circuit_opened_at=None
            )
            announce(Kind.TARGET_CHANGED, target.pk)
