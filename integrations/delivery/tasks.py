"""Celery tasks of the delivery app: thin and idempotent; each loads by id and calls one service.

Queues: `deliver`, `deliver_batch`, `dispatch`, `sweep` and `drain` on the delivery queue;
`replay_run` and `replay_verify` on the replay queue (a bulk job never waits behind live
traffic, and live traffic never waits behind its bookkeeping); `resubmit` on the ingest queue.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from integrations.delivery.services import jobs, outbox, pausing, resubmission
from integrations.delivery.services.delivering import deliveries_attempt, delivery_attempt

_DB_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="integrations.delivery.deliver", ignore_result=True, **_DB_RETRY)
def deliver(delivery_id: int) -> str:
    """One attempt of one delivery (see `delivery_attempt`): a duplicate task is a no-op."""
    return delivery_attempt(delivery_id=int(delivery_id))


@shared_task(name="integrations.delivery.deliver_batch", ignore_result=True, **_DB_RETRY)
def deliver_batch(delivery_ids: list[int]) -> list[str]:
    """One attempt of each of several deliveries, in turn (a bulk job's batch; see
    `deliveries_attempt`): a duplicate task, or a redelivered one, skips what is done. What a
    slow target leaves no time for within the soft time limit goes on in a new task."""
    ids = [int(pk) for pk in delivery_ids]
    # Half the soft limit: room for recording the last answer and for the rows' queries.
    results = deliveries_attempt(delivery_ids=ids, seconds=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2)
    rest = [pk for pk, result in zip(ids, results, strict=True) if result == "deferred"]
    if rest:
        deliver_batch.apply_async(kwargs={"delivery_ids": rest}, queue=settings.CELERY_QUEUES["delivery"])
    return results


@shared_task(name="integrations.delivery.dispatch", ignore_result=True, **_DB_RETRY)
def dispatch(event_ids: list[int]) -> int:
    """Queue the deliveries of newly stored events (published once per intake request)."""
    return outbox.deliveries_dispatch(event_ids=[int(pk) for pk in event_ids])


@shared_task(name="integrations.delivery.sweep", ignore_result=True)
def sweep(immediate: bool = False) -> int:
    """Re-queue due deliveries and stuck jobs whose task was lost; scheduled by beat
    (`CELERY_BEAT_SCHEDULE`), and sent with `immediate` by a worker that has just (re)connected
    to the broker (controltower/health/worker.py): then every due, unleased delivery is queued
    again at once, without the grace period. Returns how many deliveries were re-queued."""
    grace = outbox.sweep_grace()
    jobs.replay_jobs_sweep(stale_after=grace)
    resubmission.resubmissions_sweep(stale_after=grace)
    pausing.drains_sweep()
    return outbox.deliveries_sweep(grace=timedelta(0) if immediate else None)


@shared_task(name="integrations.delivery.drain", ignore_result=True, **_DB_RETRY)
def drain(target_id: int) -> int:
    """Deliver a resumed target's parked deliveries in order, a batch per task run."""
    done, more = pausing.target_drain(target_id=int(target_id))
    if more:
        drain.apply_async(kwargs={"target_id": target_id}, queue=settings.CELERY_QUEUES["delivery"])
    return done


@shared_task(name="integrations.delivery.replay_run", ignore_result=True, **_DB_RETRY)
def replay_run(job_id: int) -> None:
    jobs.replay_run(job_id=int(job_id))


@shared_task(name="integrations.delivery.replay_verify", ignore_result=True, **_DB_RETRY)
def replay_verify(job_id: int) -> int:
    return jobs.replay_verify(job_id=int(job_id))


@shared_task(name="integrations.delivery.resubmit", ignore_result=True, **_DB_RETRY)
def resubmit(resubmission_id: int) -> str:
    return resubmission.resubmission_run(resubmission_id=int(resubmission_id))
