"""Bulk retry and replay jobs: previewed exactly, run in Celery, cancellable, verified.

A job is created by `replay_start` (in the request: a count and a row), then `replay_run` (a
task) snapshots its items — the deliveries its filter matched as of the preview — and feeds
them to the delivery workers in chunks, checking for a cancel between chunks. Items finish as
their deliveries are delivered or dead-lettered again; the last one finishes the job and queues
`replay_verify`, which records which items still fail.

Whatever a job's page shows that changes — its state, its items' outcomes, its verification —
is announced as `Kind.JOB_PROGRESS` (the job's id) after commit; a delivery a job hands over is
announced as `Kind.DELIVERY_CHANGED` (it is live again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from controltower.accounts.access import Access, access_for
from controltower.audit.services import audit_record
from controltower.changes import Kind, announce
from controltower.queueing import enqueue, enqueue_after_commit
from integrations.delivery.models import Delivery, DeliveryAttempt, ReplayItem, ReplayJob
from integrations.delivery.selectors import DeliveryQuery, QueryError, replay_candidates

logger = logging.getLogger(__name__)

CHUNK = 500
# Deliveries per `deliver_batch` task: a bulk job's per-task overhead (broker round trips, the
# prefork hand-off, three queries) is shared by this many, while a batch still ends within a
# few seconds at a healthy target's pace (~1 s at the bulk-retry benchmark's), so cancel and pause
# take effect soon. 20 left Celery and the per-batch queries ~0.3 ms of CPU per delivery.
BATCH = 50


@dataclass(frozen=True)
class Preview:
    count: int
    as_of: datetime


class PreviewChanged(Exception):
    """The set a job would touch is not the one previewed (counts differ)."""

    def __init__(self, previewed: int, now: int) -> None:
        super().__init__(f"The preview counted {previewed}; the filter now matches {now}. Preview again.")
        self.previewed = previewed
        self.now = now


def _check_kind(kind: str, query: DeliveryQuery) -> None:
    if kind not in ReplayJob.Kind.values:
        raise QueryError("kind", f"One of {', '.join(ReplayJob.Kind.values)}.")
    if kind == ReplayJob.Kind.REPLAY and not query.target:
        raise QueryError("target", "A replay goes to one target: name it.")
    if kind == ReplayJob.Kind.REPLAY and query.delivery is None and not (query.since and query.until):
        raise QueryError("since", "A replay needs a time window: give since and until.")


def replay_preview(
    *, kind: str, query: DeliveryQuery, access: Access, as_of: datetime | None = None
) -> Preview:
    """How many deliveries a job would touch, counted as of now (or `as_of`)."""
    _check_kind(kind, query)
    as_of = as_of or timezone.now()
    return Preview(
        count=replay_candidates(kind=kind, query=query, access=access, as_of=as_of).count(), as_of=as_of
    )


def replay_start(
    *,
    kind: str,
    query: DeliveryQuery,
    reason: str,
    user,
    as_of: datetime | None = None,
    expected_count: int | None = None,
) -> ReplayJob:
    """Create a job and queue it. With `as_of` and `expected_count` from a preview, the job
    touches exactly that set: if the count no longer matches, `PreviewChanged` and no job."""
    if not reason.strip():
        raise QueryError("reason", "Say why (it is kept with the job).")
    if as_of is not None and as_of > timezone.now():
        raise QueryError("as_of", "A time from a preview, not one in the future.")
    preview = replay_preview(kind=kind, query=query, access=access_for(user), as_of=as_of)
    if expected_count is not None and preview.count != expected_count:
        raise PreviewChanged(expected_count, preview.count)
    with transaction.atomic():
        job = ReplayJob.objects.create(
            kind=kind,
            filter={**query.as_json(), "as_of": preview.as_of.isoformat()},
            reason=reason.strip()[:500],
            created_by=user,
            total=preview.count,
        )
        audit_record(
            actor=user,
            action=f"{kind}.start",
            obj=job,
            summary=f"{job.get_kind_display()} of {preview.count} delivery(ies)",
            reason=job.reason,
            details=job.filter,
        )
        announce(Kind.JOB_PROGRESS, job.pk)
        from integrations.delivery.tasks import replay_run

        enqueue_after_commit(replay_run, queue="replay", job_id=job.pk)
    logger.info(
        "delivery: %s job %s started by %s (%d item(s)): %s", kind, job.pk, user, preview.count, reason
    )
    return job


def _publish_run(job_id: int) -> None:
    from integrations.delivery.tasks import replay_run

    enqueue(replay_run, queue="replay", job_id=job_id)


def replay_jobs_sweep(*, stale_after: timedelta) -> int:
    """Re-queue jobs whose runner never started or stopped handing items over (broker down
    when the job was created, a worker killed): queued ones, and running or cancelling ones
    with items not yet handed over, older than `stale_after`; finish those whose items all
    finished. Returns how many were re-queued."""
    cutoff = timezone.now() - stale_after
    waiting = ReplayItem.objects.filter(
        job=OuterRef("pk"), enqueued=False, outcome=ReplayItem.Outcome.PENDING
    )
    stuck = ReplayJob.objects.filter(
        Q(state=ReplayJob.State.QUEUED, created_at__lt=cutoff)
        | Q(state__in=(ReplayJob.State.RUNNING, ReplayJob.State.CANCELLING), started_at__lt=cutoff)
        & (Exists(waiting) | ~Exists(ReplayItem.objects.filter(job=OuterRef("pk"))))
    ).values_list("id", flat=True)
    ids = list(stuck[:100])
    for job_id in ids:
        _publish_run(job_id)
    # Every item finished but the job did not (its last worker died before the check).
    pending = ReplayItem.objects.filter(job=OuterRef("pk"), outcome=ReplayItem.Outcome.PENDING)
    unfinished = ReplayJob.objects.filter(
        state__in=(ReplayJob.State.RUNNING, ReplayJob.State.CANCELLING), started_at__lt=cutoff
    ).filter(~Exists(pending), Exists(ReplayItem.objects.filter(job=OuterRef("pk"))))
    for job_id in unfinished.values_list("id", flat=True)[:100]:
        replay_job_finish_if_done(job_id=job_id)
    return len(ids)


def delivery_retry(*, delivery: Delivery, user, reason: str = "") -> ReplayJob:
    """Retry one delivery (dead-lettered, or delivered: sent again with the same key).
    Raises `QueryError` for one still in flight (pending, retrying or paused)."""
    if delivery.status not in (Delivery.Status.DEAD_LETTERED, Delivery.Status.DELIVERED):
        raise QueryError("delivery", f"This delivery is {delivery.status}: it is being delivered already.")
    kind = ReplayJob.Kind.RETRY if delivery.status == Delivery.Status.DEAD_LETTERED else ReplayJob.Kind.REPLAY
    query = DeliveryQuery(delivery=delivery.pk, target=delivery.target.code)
    return replay_start(kind=kind, query=query, reason=reason or "Retried from the delivery page", user=user)


def replay_cancel(*, job: ReplayJob, user) -> bool:
    """Ask a queued or running job to stop: items not yet handed to workers are cancelled;
    those in flight finish. Returns False if the job had ended."""
    with transaction.atomic():
        changed = ReplayJob.objects.filter(
            pk=job.pk, state__in=(ReplayJob.State.QUEUED, ReplayJob.State.RUNNING)
        ).update(state=ReplayJob.State.CANCELLING, cancelled_by=user)
        if changed:
            audit_record(actor=user, action=f"{job.kind}.cancel", obj=job, summary=f"Cancelled job {job.pk}")
            announce(Kind.JOB_PROGRESS, job.pk)
    job.refresh_from_db()
    return bool(changed)


def replay_run(*, job_id: int) -> None:
    """Snapshot the job's items (once) and hand them to the workers chunk by chunk.

    Idempotent: a redelivered task resumes where the last one stopped (items remember whether
    they were handed over).
    """
    job = ReplayJob.objects.select_related("created_by").get(pk=job_id)
    if job.state == ReplayJob.State.QUEUED:
        if ReplayJob.objects.filter(pk=job.pk, state=ReplayJob.State.QUEUED).update(
            state=ReplayJob.State.RUNNING, started_at=timezone.now()
        ):
            announce(Kind.JOB_PROGRESS, job.pk)
        job.refresh_from_db()
    if job.state not in (ReplayJob.State.RUNNING, ReplayJob.State.CANCELLING):
        return
    if not job.items.exists():
        if not _snapshot(job):
            return
    while _hand_over_chunk(job):
        job.refresh_from_db(fields=["state"])
    replay_job_finish_if_done(job_id=job.pk)


def _snapshot(job: ReplayJob) -> bool:
    query = DeliveryQuery.parse(job.filter)
    as_of = datetime.fromisoformat(job.filter["as_of"])
    ids = list(
        replay_candidates(kind=job.kind, query=query, access=access_for(job.created_by), as_of=as_of)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if len(ids) != job.total:
        ReplayJob.objects.filter(pk=job.pk).update(
            state=ReplayJob.State.FAILED,
            finished_at=timezone.now(),
            error=str(PreviewChanged(job.total, len(ids))),
        )
        announce(Kind.JOB_PROGRESS, job.pk)
        return False
    ReplayItem.objects.bulk_create(
        [ReplayItem(job=job, delivery_id=pk) for pk in ids], ignore_conflicts=True, batch_size=2_000
    )
    announce(Kind.JOB_PROGRESS, job.pk)  # the items are listed now
    return True


def _hand_over_chunk(job: ReplayJob) -> bool:
    """Hand the next chunk to the workers; False when nothing is left (or the job stops)."""
    waiting = job.items.filter(enqueued=False, outcome=ReplayItem.Outcome.PENDING).order_by("delivery_id")
    if job.state == ReplayJob.State.CANCELLING:
        if waiting.update(outcome=ReplayItem.Outcome.CANCELLED, finished_at=timezone.now()):
            announce(Kind.JOB_PROGRESS, job.pk)
        return False
    chunk = list(waiting.values_list("id", "delivery_id")[:CHUNK])
    if not chunk:
        return False
    now = timezone.now()
    cause = (
        DeliveryAttempt.Cause.MANUAL
        if "delivery" in job.filter
        else (
            DeliveryAttempt.Cause.BULK if job.kind == ReplayJob.Kind.RETRY else DeliveryAttempt.Cause.REPLAY
        )
    )
    wanted = Delivery.Status.DEAD_LETTERED if job.kind == ReplayJob.Kind.RETRY else None
    deliveries = Delivery.objects.filter(id__in=[d for _, d in chunk])
    deliveries = (
        deliveries.filter(status=wanted)
        if wanted
        else deliveries.filter(status__in=(Delivery.Status.DELIVERED, Delivery.Status.DEAD_LETTERED))
    )
    with transaction.atomic():
        # Their plant and supplier come along: what the announcement below is scoped by.
        scopes = {
            pk: (plant, supplier)
            for pk, plant, supplier in deliveries.values_list("id", "plant_id", "supplier_id")
        }
        live = set(scopes)
        deliveries.update(
            status=Delivery.Status.PENDING,
            job=job,
            round_cause=cause,
            attempts=0,
            round_started_at=now,
            next_attempt_at=now,
            enqueued_at=now,
            lease_until=None,
        )
        item_ids = [i for i, d in chunk if d in live]
        ReplayItem.objects.filter(id__in=item_ids).update(enqueued=True)
        # Handled elsewhere since the snapshot (an operator retried it, say): not ours to send.
        ReplayItem.objects.filter(id__in=[i for i, d in chunk if d not in live]).update(
            outcome=ReplayItem.Outcome.CANCELLED, finished_at=now
        )
        announce(Kind.JOB_PROGRESS, job.pk)
        for pk, (plant_id, supplier_id) in scopes.items():
            announce(Kind.DELIVERY_CHANGED, pk, plant_ids=plant_id, supplier_ids=supplier_id)
    from integrations.delivery.tasks import deliver_batch

    queue = settings.CELERY_QUEUES["delivery"]
    ordered = sorted(live)
    for start in range(0, len(ordered), BATCH):
        deliver_batch.apply_async(kwargs={"delivery_ids": ordered[start : start + BATCH]}, queue=queue)
    return True


def replay_job_finish_if_done(*, job_id: int) -> None:
    """End the job when no item is pending, and queue its verification."""
    if ReplayItem.objects.filter(job_id=job_id, outcome=ReplayItem.Outcome.PENDING).exists():
        return
    now = timezone.now()
    done = ReplayJob.objects.filter(pk=job_id, state=ReplayJob.State.RUNNING).update(
        state=ReplayJob.State.DONE, finished_at=now
    )
    cancelled = ReplayJob.objects.filter(pk=job_id, state=ReplayJob.State.CANCELLING).update(
        state=ReplayJob.State.CANCELLED, finished_at=now
    )
    if done or cancelled:
        announce(Kind.JOB_PROGRESS, job_id)
        from integrations.delivery.tasks import replay_verify

        try:
            replay_verify.apply_async(kwargs={"job_id": job_id}, queue=settings.CELERY_QUEUES["replay"])
        except Exception:  # noqa: BLE001 — verification can be asked for again from the job page
            logger.warning("delivery: could not queue verification of job %s", job_id)


def replay_verify(*, job_id: int) -> int:
    """Record each item's delivery status now, and how many items still fail (not delivered,
    not cancelled). Can run any number of times; returns the still-failing count."""
    status = Delivery.objects.filter(pk=OuterRef("delivery_id")).values("status")[:1]
    items = ReplayItem.objects.filter(job_id=job_id)
    items.update(verified_status=Subquery(status))
    failing = (
        items.exclude(outcome=ReplayItem.Outcome.CANCELLED)
        .exclude(verified_status=Delivery.Status.DELIVERED)
        .count()
    )
    ReplayJob.objects.filter(pk=job_id).update(verified_at=timezone.now(), still_failing=failing)
    announce(Kind.JOB_PROGRESS, job_id)
    return failing
