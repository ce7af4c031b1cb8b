"""Celery tasks of the exception queues: thin, idempotent, on the `rules` queue."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from exceptions.services.following import cases_follow, cases_sweep


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
