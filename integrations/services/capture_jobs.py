"""EPCIS capture jobs run by a worker: a large document is not held in the request.

`capture_job_queue` stores the posted document with a running job and queues
`integrations.capture_run` on the ingest queue after commit; `capture_job_run` captures it
exactly as the request would have (`capture_outcomes`) and finishes the job; the sweeper
(`capture_jobs_sweep`, scheduled by beat) re-queues a job whose task was lost (broker down at
commit, worker killed), so no posted document is left behind.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from controltower.queueing import enqueue, enqueue_after_commit
from integrations.models import CaptureJob, SourceSystem
from integrations.services.capture import (
    SECURITY_EXCEPTION,
    VALIDATION_EXCEPTION,
    CaptureRefused,
    capture_job_finish,
    capture_outcomes,
)
from integrations.services.intake import RequestRecord
from integrations.services.rejections import rejected_message_record

__all__ = ["capture_job_queue", "capture_job_run", "capture_jobs_sweep"]

#: How many stale jobs one sweep re-queues.
SWEEP_LIMIT = 100


def capture_job_queue(*, system: SourceSystem, behaviour: str, request: RequestRecord) -> CaptureJob:
    """A running capture job holding the posted document; its task is queued after commit."""
    job = CaptureJob.objects.create(
        capture_id=uuid.uuid4(),
        system=system,
        plant_id=system.plant_id,
        supplier_id=system.supplier_id,
        error_behaviour=behaviour,
        counts={"accepted": 0, "duplicate": 0, "rejected": 0},
        body=request.body,
        request={
            "endpoint": request.endpoint,
            "content_type": request.content_type,
            "headers": dict(request.headers),
        },
    )
    from integrations.tasks import capture_run

    enqueue_after_commit(capture_run, queue="ingest", job_id=job.pk)
    return job


def _refusal(job: CaptureJob, refused: CaptureRefused, record: RequestRecord) -> dict:
    """The refused document kept as one rejected message, and the problem the job reports."""
    status = 403 if refused.forbidden else 400
    rejected = rejected_message_record(
        system=job.system,
        endpoint=record.endpoint,
        content_type=record.content_type,
        headers=record.headers,
        body=record.body,
        status_code=status,
        problem_type="forbidden" if refused.forbidden else "validation-error",
        errors=refused.errors,
        plant_id=refused.plant_id,
        supplier_id=refused.supplier_id,
    )
    return {
        "type": SECURITY_EXCEPTION if refused.forbidden else VALIDATION_EXCEPTION,
        "title": "The document was refused; none of its events was stored",
        "status": status,
        "detail": refused.detail or f"{len(refused.errors)} error(s); see errors.",
        "instance": record.endpoint,
        "errors": [{"pointer": e.pointer, "detail": e.detail} for e in refused.errors],
        "rejected_message": rejected.pk,
    }


def capture_job_run(*, job_id: int) -> str:
    """Capture the document of a running job and finish the job; idempotent.

    Guarantees: the events and the finished job are written in one transaction (a worker killed
    half-way leaves the job running and nothing stored, for the sweeper to re-queue); a finished
    job is left alone; a refused document finishes the job with `success` False, its problem in
    `errors` and the document kept as a rejected message. Returns the job's outcome.
    """
    with transaction.atomic():
        job = (
            CaptureJob.objects.select_for_update(of=("self",))
            .select_related("system__plant", "system__supplier")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.finished_at is not None:
            return "done"
        record = RequestRecord(
            job.request.get("endpoint", ""),
            job.request.get("content_type", ""),
            job.request.get("headers", {}),
            bytes(job.body or b""),
        )
        try:
            # The body was read as JSON when posted; a worker reads the same bytes again.
            document = json.loads(record.body.decode("utf-8"))
            outcomes = capture_outcomes(
                system=job.system, document=document, behaviour=job.error_behaviour, request=record
            )
        except CaptureRefused as refused:
            capture_job_finish(
                job, outcomes=[], instance=record.endpoint, refusal=_refusal(job, refused, record)
            )
            return "refused"
        capture_job_finish(job, outcomes=outcomes, instance=record.endpoint)
        return "success" if job.success else "failed"


def capture_jobs_sweep(*, stale_after: timedelta) -> int:
    """Re-queue jobs still running `stale_after` after they were posted; how many."""
    cutoff = timezone.now() - stale_after
    ids = list(
        CaptureJob.objects.filter(finished_at=None, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("id", flat=True)[:SWEEP_LIMIT]
    )
    from integrations.tasks import capture_run

    for pk in ids:
        enqueue(capture_run, queue="ingest", job_id=pk)
    return len(ids)
