"""Celery tasks of the integrations app: thin and idempotent; each loads by id and calls one service.

`capture_run` captures a large EPCIS document on the ingest queue; `capture_sweep` (beat)
re-queues capture jobs whose task was lost.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from integrations.services.capture_jobs import capture_job_run, capture_jobs_sweep


@shared_task(
    name="integrations.capture_run",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def capture_run(job_id: int) -> str:
    """Capture the document of one capture job (see `capture_job_run`); a duplicate is a no-op."""
    return capture_job_run(job_id=int(job_id))


@shared_task(name="integrations.capture_sweep", ignore_result=True)
def capture_sweep() -> int:
    """Re-queue capture jobs still running after EPCIS_CAPTURE_SWEEP_GRACE seconds."""
    return capture_jobs_sweep(stale_after=timedelta(seconds=settings.EPCIS_CAPTURE_SWEEP_GRACE))
