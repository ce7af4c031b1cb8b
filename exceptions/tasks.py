"""Celery tasks of the exception queues: thin, idempotent, on the `rules` queue."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from controltower.queueing import enqueue
from exceptions.services.bulk import TASK_BUDGET_SECONDS, case_bulk_run, case_bulk_sweep
from exceptions.services.following import cases_follow, cases_sweep
from exceptions.services.notify import notifications_flush
from exceptions.services.routing_sla import cases_escalate


@shared_task(
    name="exceptions.follow",
    ignore_result=True,
    # Deadlocks, lock timeouts, a database restarting: try again later; the work is idempotent.
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def follow(rejected_ids: list[int] = (), delivery_ids: list[int] = ()) -> None:
    """Open, fold or self-resolve the cases of these refused messages and deliveries, reading
    their current state (see `cases_follow`). Idempotent."""
    cases_follow(rejected_ids=[int(pk) for pk in rejected_ids], delivery_ids=[int(pk) for pk in delivery_ids])


@shared_task(name="exceptions.sweep", ignore_result=True)
def sweep() -> None:
    """Catch up on missed changes and end snoozes (see `cases_sweep`); scheduled by beat."""
    cases_sweep()


@shared_task(
    name="exceptions.escalate",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def escalate() -> None:
    """Escalate cases past their handling time, each once (see `cases_escalate`); by beat."""
    cases_escalate()


@shared_task(
    name="exceptions.notify",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def notify() -> None:
    """Write due digests and send email digests (see `notifications_flush`): queued after a
    notice is recorded, and by beat for the digests that waited out their interval. Idempotent
    and safe from several workers at once."""
    notifications_flush()


@shared_task(
    name="exceptions.bulk_run",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def bulk_run(job_id: int) -> None:
    """Work a started bulk action for a while, then queue the rest (see `case_bulk_run`).
    Idempotent: each chunk commits with the job's position."""
    if case_bulk_run(job_id=int(job_id), budget_seconds=TASK_BUDGET_SECONDS):
        enqueue(bulk_run, queue="rules", if_lost="the bulk sweep will", job_id=int(job_id))


@shared_task(name="exceptions.bulk_sweep", ignore_result=True)
def bulk_sweep() -> None:
    """Queue again bulk actions whose task was lost; scheduled by beat."""
    case_bulk_sweep()


@shared_task(
    name="exceptions.rules",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def rules(event_ids: list[int] = (), trace_ids: list[int] = ()) -> None:
    """Evaluate the business rules on these accepted events and changed traces, opening,
    folding or self-resolving their cases (see `exceptions.rules.rules_follow`). Idempotent."""
    from exceptions.rules import rules_follow

    rules_follow(event_ids=[int(pk) for pk in event_ids], trace_ids=[int(pk) for pk in trace_ids])


@shared_task(name="exceptions.rules_scan", ignore_result=True)
def rules_scan() -> None:
    """The scheduled rules: reconciliation, source silence, milestone catch-up (beat)."""
    from exceptions.rules import rules_scan as scan

    scan()
