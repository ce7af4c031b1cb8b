"""Pausing a target (an ERP maintenance window) and draining what waited, in order."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from controltower.audit.services import audit_record
from controltower.changes import Kind, announce
from controltower.queueing import enqueue, enqueue_after_commit
from integrations.delivery.models import Delivery, DeliveryAttempt, Target
from integrations.delivery.services.delivering import delivery_attempt

logger = logging.getLogger(__name__)

DRAIN_BATCH = 200
# Longer than a batch can take (each attempt is bounded by the target's timeout); renewed per batch.
DRAIN_LEASE = timedelta(minutes=30)


def _require_whole_network(user) -> None:
    """A target serves every plant and supplier: only someone who sees them all may stop it."""
    from django.core.exceptions import PermissionDenied

    from controltower.accounts.access import access_for
    from controltower.accounts.roles import Capability

    access = access_for(user)
    if not (access.can(Capability.OPERATE) and access.scope.everything):
        raise PermissionDenied("Pausing a target needs the operate permission over every plant and supplier.")


def target_pause(*, target: Target, user, reason: str) -> bool:
    """Stop sending to `target`: deliveries wait (status `paused`) until it is resumed.
    In-flight attempts finish. Returns False when it was paused already. Raises
    `PermissionDenied` unless `user` may operate across the whole network."""
    _require_whole_network(user)
    with transaction.atomic():
        changed = Target.objects.filter(pk=target.pk, paused=False).update(
            paused=True, paused_reason=reason[:300], paused_by=user, paused_at=timezone.now()
        )
        if changed:
            audit_record(
                actor=user, action="target.pause", obj=target, summary=f"Paused {target.code}", reason=reason
            )
            announce(Kind.TARGET_CHANGED, target.pk)  # a target serves every scope: not scoped
    target.refresh_from_db()
    if changed:
        logger.info("delivery: %s paused by %s: %s", target.code, user, reason)
    return bool(changed)


def target_resume(*, target: Target, user) -> bool:
    """Send to `target` again; the deliveries that waited drain in the order they were created
    (one `drain` task, sequential). Returns False when it was not paused. Raises
    `PermissionDenied` unless `user` may operate across the whole network."""
    _require_whole_network(user)
    from integrations.delivery.tasks import drain

    with transaction.atomic():
        changed = Target.objects.filter(pk=target.pk, paused=True).update(
            paused=False, paused_reason="", paused_by=None, paused_at=None
        )
        if changed:
            waiting = Delivery.objects.filter(target=target, status=Delivery.Status.PAUSED).count()
            audit_record(
                actor=user,
                action="target.resume",
                obj=target,
                summary=f"Resumed {target.code}; {waiting} waiting delivery(ies) drain in order",
            )
            announce(Kind.TARGET_CHANGED, target.pk)
    target.refresh_from_db()
    if changed:
        logger.info("delivery: %s resumed by %s", target.code, user)
        enqueue_after_commit(drain, queue="delivery", target_id=target.pk)
    return bool(changed)


def target_drain(*, target_id: int, batch: int = DRAIN_BATCH) -> tuple[int, bool]:
    """Deliver up to `batch` parked deliveries of the target, oldest first, one after another.

    Returns (how many were attempted, whether more remain). One drain per target at a time (a
    lease on the target row; a second drain returns at once), so order holds even when the
    sweeper and a resume both start one. Stops early if the target is paused again. A delivery
    that fails here continues by its retry policy like any other.
    """
    lease = timezone.now() + DRAIN_LEASE
    held = (
        Target.objects.filter(pk=target_id)
        .filter(Q(draining_until__isnull=True) | Q(draining_until__lt=timezone.now()))
        .update(draining_until=lease)
    )
    if not held:
        return 0, False
    announce(Kind.TARGET_CHANGED, target_id)  # "draining what waited"
    done = 0
    try:
        for _ in range(batch):
            next_id = _next_parked(target_id)
            if next_id is None:
                return done, False
            delivery_attempt(delivery_id=next_id)
            done += 1
        return done, Delivery.objects.filter(target_id=target_id, status=Delivery.Status.PAUSED).exists()
    finally:
        if Target.objects.filter(pk=target_id, draining_until=lease).update(draining_until=None):
            announce(Kind.TARGET_CHANGED, target_id)


def _next_parked(target_id: int) -> int | None:
    """The oldest parked delivery, made live again for its drain attempt (None: none, or the
    target was paused again)."""
    if Target.objects.filter(pk=target_id, paused=True).exists():
        return None
    next_id = (
        Delivery.objects.filter(target_id=target_id, status=Delivery.Status.PAUSED)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if next_id is None:
        return None
    now = timezone.now()
    Delivery.objects.filter(pk=next_id, status=Delivery.Status.PAUSED).update(
        status=Delivery.Status.PENDING,
        next_attempt_at=now,
        enqueued_at=now,
        lease_until=None,
        attempts=0,
        round_started_at=now,
        round_cause=DeliveryAttempt.Cause.DRAIN,
    )
    return next_id


def drains_sweep() -> int:
    """Start a drain for every running target with parked deliveries (a resume whose drain
    task was lost, or deliveries parked after a drain finished). Returns how many."""
    from integrations.delivery.tasks import drain

    targets = Target.objects.filter(paused=False, active=True).filter(
        Exists(Delivery.objects.filter(target_id=OuterRef("pk"), status=Delivery.Status.PAUSED))
    )
    ids = list(targets.values_list("id", flat=True))
    for target_id in ids:
        enqueue(drain, queue="delivery", target_id=target_id)
    return len(ids)
