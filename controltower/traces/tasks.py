"""Celery tasks of the traces app: thin, idempotent, on the `rules` queue.

Routing: `CELERY_TASK_ROUTES` sends `controltower.traces.*` to the `rules` queue (the `queue`
task attribute is deprecated in Celery 5); the sweeper runs every minute from
`CELERY_BEAT_SCHEDULE`.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from controltower.traces.services import correlate_events, events_correlate_pending
from controltower.traces.services.milestones import traces_mark_overdue
from controltower.traces.services.rekeying import identifiers_rekey


@shared_task(
    name="controltower.traces.correlate",
    ignore_result=True,
    # Deadlocks, lock timeouts, a database restarting: try again later; the work is idempotent.
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def correlate(event_ids: list[int]) -> None:
    """Correlate the stored events `event_ids` into traces (see `correlate_events`).

    Idempotent: running it again, or concurrently with the sweeper, changes nothing more.
    """
    correlate_events(event_ids=[int(pk) for pk in event_ids])


@shared_task(name="controltower.traces.correlate_pending", ignore_result=True)
def correlate_pending() -> int:
    """Correlate events the signal path missed (broker down, task lost), oldest first, bounded
    per run; returns how many. Scheduled every minute (`CELERY_BEAT_SCHEDULE` in settings)."""
    return events_correlate_pending()


@shared_task(
    name="controltower.traces.mark_overdue",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def mark_overdue() -> int:
    """Re-evaluate traces whose next deadline or at-risk time has passed (bounded per run);
    returns how many. Idempotent; scheduled every minute (`CELERY_BEAT_SCHEDULE`)."""
    return traces_mark_overdue()


@shared_task(
    name="controltower.traces.rekey",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def rekey(kind: str, system_id: int | None) -> int:
    """Move already-correlated events to the keys a changed identifier rule gives (see
    `identifiers_rekey`); returns how many moved. Idempotent."""
    return identifiers_rekey(kind=kind, system_id=system_id)
