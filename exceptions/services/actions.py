"""Actions from a case that call integrations' own services (exceptions never writes their
tables): retry the case's dead letters, resubmit a fixed refused message. Each is recorded in
the case's history; the services themselves audit and queue their work."""

from __future__ import annotations

from django.db import transaction

from controltower.accounts.access import access_for
from exceptions.models import Case, CaseEntry, Occurrence
from exceptions.services.errors import CaseActionError
from exceptions.services.history import case_history_record
from integrations.delivery.models import Delivery, ReplayJob, Resubmission
from integrations.delivery.selectors import DeliveryQuery, QueryError, deliveries_visible
from integrations.delivery.services.jobs import delivery_retry, replay_start
from integrations.delivery.services.resubmission import rejected_resubmit
from integrations.selectors import rejected_messages_visible


def case_dead_letters(*, case: Case, user) -> list[Delivery]:
    """The case's deliveries that are dead-lettered now and that `user` may see."""
    ids = case.occurrence_rows.filter(source=Occurrence.Source.DELIVERY, cleared_at__isnull=True).values(
        "ref_id"
    )
    return list(
        deliveries_visible(access=access_for(user))
        .filter(pk__in=ids, status=Delivery.Status.DEAD_LETTERED)
        .select_related("target", "plant", "supplier")
        .order_by("pk")
    )


def case_retry(*, case: Case, user, reason: str) -> ReplayJob:
    """Retry the case's dead letters as one job: one delivery by itself, several by the case's
    filter (target, error class, plant or supplier) — the same set the case folds.
    Raises `CaseActionError` when there is nothing to retry or no reason."""
    if case.kind != Case.Kind.DEAD_LETTER:
        raise CaseActionError("Only a dead-letter case has deliveries to retry.")
    if not reason.strip():
        raise CaseActionError("Say why (it is kept with the job).", field="reason")
    dead = case_dead_letters(case=case, user=user)
    if not dead:
        raise CaseActionError("None of this case's deliveries is dead-lettered now: nothing to retry.")
    try:
        with transaction.atomic():
            if len(dead) == 1:
                job = delivery_retry(delivery=dead[0], user=user, reason=reason)
            else:
                first = dead[0]
                query = DeliveryQuery(
                    target=first.target.code,
                    error_class=case.error_class,
                    plant=first.plant.code if case.plant_id else "",
                    supplier=first.supplier.code if not case.plant_id and case.supplier_id else "",
                )
                job = replay_start(kind=ReplayJob.Kind.RETRY, query=query, reason=reason, user=user)
            case_history_record(
                case=case,
                actor=user,
                action=CaseEntry.Action.RETRIED,
                after={"job": job.pk, "deliveries": job.total},
                comment=reason,
            )
    except QueryError as error:
        raise CaseActionError(error.detail, field=error.field) from None
    return job


def case_resubmit(*, case: Case, rejected_id: int, user, body: str, reason: str) -> Resubmission:
    """Resubmit one of the case's refused messages with a corrected `body`."""
    if not case.occurrence_rows.filter(source=Occurrence.Source.REJECTED, ref_id=rejected_id).exists():
        raise CaseActionError(f"Refused message {rejected_id} is not part of case {case.pk}.")
    rejected = rejected_messages_visible(access=access_for(user)).filter(pk=rejected_id).first()
    if rejected is None:
        raise CaseActionError(f"Refused message {rejected_id} is not visible to you.")
    try:
        with transaction.atomic():
            resubmission = rejected_resubmit(rejected=rejected, body=body, reason=reason, user=user)
            case_history_record(
                case=case,
                actor=user,
                action=CaseEntry.Action.RESUBMITTED,
                after={"rejected_message": rejected.pk, "resubmission": resubmission.pk},
                comment=reason,
            )
    except QueryError as error:
        raise CaseActionError(error.detail, field=error.field) from None
    return resubmission
