"""Getting outbox rows to the workers: right after commit (`deliveries_dispatch`) and, for
anything that slipped through (broker down at commit, a worker killed mid-delivery, a lost
countdown), the periodic `deliveries_sweep`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from integrations.delivery.models import Delivery

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 2_000


def sweep_grace() -> timedelta:
    """How long a due delivery may wait for its task before the sweeper sends another."""
    return timedelta(seconds=settings.CONTROLTOWER_DELIVERY_SWEEP_GRACE)


def deliveries_dispatch(*, event_ids: list[int]) -> int:
    """Queue a `deliver` task for every live delivery of `event_ids`; returns how many."""
    ids = list(
        Delivery.objects.filter(
            event_id__in=event_ids, status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING)
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    return _publish(ids, now=timezone.now())


def deliveries_sweep(
    *, now: datetime | None = None, limit: int = SWEEP_LIMIT, grace: timedelta | None = None
) -> int:
    """Re-queue deliveries that are due, not leased, and whose task should have run by now.

    Guarantees: a delivery is re-queued at most once per grace period (its `enqueued_at` moves),
    oldest due first, at most `limit` per run; a lease that expired (its worker died) makes the
    delivery eligible again. `grace` (default `sweep_grace()`) is zero right after a worker
    reconnects to the broker, whose queued tasks may be gone. Returns how many were queued.
    """
    now = now or timezone.now()
    stale = now - (sweep_grace() if grace is None else grace)
    due = (
        Delivery.objects.filter(status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING))
        .filter(next_attempt_at__lte=stale)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=stale))
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    ids = list(due)
    queued = _publish(ids, now=now)
    if queued:
        logger.info("delivery: sweeper re-queued %d delivery(ies)", queued)
    return queued


def _publish(ids: list[int], *, now: datetime) -> int:
    from integrations.delivery.tasks import deliver

    if not ids:
        return 0
    Delivery.objects.filter(id__in=ids).update(enqueued_at=now)
    queue = settings.CELERY_QUEUES["delivery"]
    for count, delivery_id in enumerate(ids):
        try:
            deliver.apply_async(kwargs={"delivery_id": delivery_id}, queue=queue)
        except Exception:  # noqa: BLE001 — broker down: the next sweep tries again
            logger.warning("delivery: broker unavailable after queuing %d of %d", count, len(ids))
            Delivery.objects.filter(id__in=ids[count:]).update(enqueued_at=None)
            return count
    return len(ids)
