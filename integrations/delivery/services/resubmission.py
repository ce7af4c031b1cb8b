"""Fix and resubmit a refused message: the corrected CloudEvent goes through intake again, as
the system that sent the original, keeping a link both ways."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from controltower.audit.services import audit_record
from controltower.changes import Kind, announce
from controltower.json_values import error_dicts, json_decode, text_problem
from controltower.queueing import enqueue, enqueue_after_commit
from integrations.adapters.cloudevents import parse_structured
from integrations.delivery.models import Resubmission
from integrations.delivery.selectors import QueryError
from integrations.models import Event, RejectedMessage


def rejected_resubmit(*, rejected: RejectedMessage, body: str, reason: str, user) -> Resubmission:
    """Queue the corrected `body` (a structured CloudEvent) for intake in a worker.

    Raises `QueryError` naming the field when the body is not a JSON object, the original has no
    sending system (it was refused before we knew who sent it), or no reason is given.
    """
    if rejected.system_id is None:
        raise QueryError(
            "rejected", "This message was refused before its sender was known; it cannot be resubmitted."
        )
    if not reason.strip():
        raise QueryError("reason", "Say what was fixed (it is kept with the resubmission).")
    if problem := text_problem(body):  # the text itself is stored: PostgreSQL must hold it
        raise QueryError("body", f"The body {problem}; write it as a JSON escape to send it.")
    try:
        parsed = json_decode(body)
    except ValueError as error:
        raise QueryError("body", f"Not JSON: {error}.") from None
    if not isinstance(parsed, dict):
        raise QueryError("body", "A structured CloudEvent: one JSON object.")
    with transaction.atomic():
        resubmission = Resubmission.objects.create(
            original=rejected, body=body, reason=reason.strip()[:500], created_by=user
        )
        audit_record(
            actor=user,
            action="rejected.resubmit",
            obj=rejected,
            summary=f"Resubmitted rejected message {rejected.pk} (resubmission {resubmission.pk})",
            reason=resubmission.reason,
        )
        from integrations.delivery.tasks import resubmit

        enqueue_after_commit(resubmit, queue="ingest", resubmission_id=resubmission.pk)
        _announce_message_changed(rejected)
    return resubmission


def _announce_message_changed(rejected: RejectedMessage) -> None:
    """The rejected message's page lists its resubmissions and what they became."""
    announce(
        Kind.MESSAGE_CHANGED, rejected.pk, plant_ids=rejected.plant_id, supplier_ids=rejected.supplier_id
    )


def resubmissions_sweep(*, stale_after) -> int:
    """Re-queue resubmissions still queued after `stale_after` (broker down when they were made)."""
    from integrations.delivery.tasks import resubmit

    cutoff = timezone.now() - stale_after
    ids = list(
        Resubmission.objects.filter(state=Resubmission.State.QUEUED, created_at__lt=cutoff).values_list(
            "id", flat=True
        )[:100]
    )
    for pk in ids:
        enqueue(resubmit, queue="ingest", resubmission_id=pk)
    return len(ids)


def resubmission_run(*, resubmission_id: int) -> str:
    """Run intake for a queued resubmission; idempotent (a finished one is left alone)."""
    from integrations.models import SourceSystem
    from integrations.services.intake import ACCEPTED, DUPLICATE, Candidate, RequestRecord, events_ingest

    resubmission = Resubmission.objects.select_related("original").get(pk=resubmission_id)
    if resubmission.state != Resubmission.State.QUEUED:
        return resubmission.state
    system = SourceSystem.objects.get(pk=resubmission.original.system_id)
    raw = json_decode(resubmission.body)
    parsed = parse_structured(raw)
    record = RequestRecord(
        endpoint=f"resubmission of rejected message {resubmission.original_id}",
        content_type="application/cloudevents+json",
        headers={"X-Resubmitted-By": str(resubmission.created_by)},
        body=resubmission.body.encode(),
    )
    candidate = Candidate(raw=raw, event=parsed.event, errors=parsed.errors)
    [outcome] = events_ingest(
        system=system, candidates=[candidate], mode=Event.Mode.STRUCTURED, request=record
    )
    fields = {
        "finished_at": timezone.now(),
        "errors": error_dicts(outcome.errors),
    }
    if outcome.status in (ACCEPTED, DUPLICATE):
        fields |= {"state": Resubmission.State.ACCEPTED, "event_id": outcome.event_pk}
    else:
        fields |= {"state": Resubmission.State.REJECTED, "rejected_again_id": outcome.rejected_pk}
    with transaction.atomic():
        finished = Resubmission.objects.filter(pk=resubmission.pk, state=Resubmission.State.QUEUED).update(
            **fields
        )
        if finished:
            _announce_message_changed(resubmission.original)
    return fields["state"]
