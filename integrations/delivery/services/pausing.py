"""Pausing a target (an ERP maintenance window) and draining what waited, in order."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.delivery.models import Delivery, DeliveryAttempt, Target
from integrations.delivery.services.delivering import delivery_attempt

logger = logging.getLogger(__name__)

DRAIN_BATCH = 200


def target_pause(*, target: Target, user, reason: str) -> bool:
    """Stop sending to `target`: deliveries wait (status `paused`) until it is resumed.
    In-flight attempts finish. Returns False when it was paused already."""
    changed = Target.objects.filter(pk=target.pk, paused=False).update(
        paused=True, paused_reason=reason[:300], paused_by=user, paused_at=timezone.now()
    )
    target.refresh_from_db()
    if changed:
        logger.info("delivery: %s paused by %s: %s", target.code, user, reason)
    return bool(changed)


def target_resume(*, target: Target, user) -> bool:
    """Send to `target` again; the deliveries that waited drain in the order they were created
    (one `drain` task, sequential). Returns False when it was not paused."""
    from integrations.delivery.tasks import drain

    changed = Target.objects.filter(pk=target.pk, paused=True).update(
        paused=False, paused_reason="", paused_by=None, paused_at=None
    )
    target.refresh_from_db()
    if changed:
        logger.info("delivery: %s resumed by %s", target.code, user)
        transaction.on_commit(
            lambda: drain.apply_async(
                kwargs={"target_id": target.pk}, queue=settings.CELERY_QUEUES["delivery"]
            )
        )
    return bool(changed)


def target_drain(*, target_id: int, batch: int = DRAIN_BATCH) -> tuple[int, bool]:
    """Deliver up to `batch` parked deliveries of the target, oldest first, one after another.

    Returns (how many were attempted, whether more remain). Stops early if the target is paused
    again. A delivery that fails here continues by its retry policy like any other.
    """
    done = 0
    for _ in range(batch):
        if Target.objects.filter(pk=target_id, paused=True).exists():
            return done, False
        next_id = (
            Delivery.objects.filter(target_id=target_id, status=Delivery.Status.PAUSED)
            .order_by("id")
            .values_list("id", flat=True)
            .first()
        )
        if next_id is None:
            return done, False
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
        delivery_attempt(delivery_id=next_id)
        done += 1
    more = Delivery.objects.filter(target_id=target_id, status=Delivery.Status.PAUSED).exists()
    return done, more
