"""Refused messages → validation, unknown-type and foreign-source cases.

Occurrences of one system refusing the same kind of message for the same fields fold into one
case (a sender's broken release is one case with its count). A refused message's cause is gone
once a resubmission of it was accepted, or the same event (source and id) was accepted since.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Exists, OuterRef, Q

from controltower.accounts.access import Access
from controltower.accounts.scope import FULL_SCOPE
from controltower.traces.models import ROOT_FLOWS
from controltower.traces.selectors import trace_for_identifier
from exceptions.models import Case, Occurrence
from exceptions.services.opening import Sighting
from integrations.delivery.models import Resubmission
from integrations.models import Event, RejectedMessage

_TOWER = Access(authenticated=True, capabilities=frozenset(), scope=FULL_SCOPE)
_INDEX = re.compile(r"/\d+(?=/|$)")
POINTERS_KEPT = 5


def kind_of(rejected: RejectedMessage) -> str:
    if rejected.problem_type == "forbidden":
        return Case.Kind.FOREIGN_SOURCE
    if any(
        str(error.get("pointer", "")).endswith("/type")
        and "unknown event type" in str(error.get("detail", ""))
        for error in rejected.errors
    ):
        return Case.Kind.UNKNOWN_TYPE
    return Case.Kind.VALIDATION


def error_class_of(rejected: RejectedMessage) -> str:
    """The problem and the fields it concerns, without array positions or a batch element's
    index (line 3 or line 7 missing its quantity is the same mistake)."""
    pointers = sorted({_INDEX.sub("/*", str(error.get("pointer", ""))) for error in rejected.errors})
    return f"{rejected.problem_type}:{','.join(pointers[:POINTERS_KEPT])}"[:200]


def _first_error(rejected: RejectedMessage) -> str:
    if not rejected.errors:
        return "no detail was given"
    error = rejected.errors[0]
    pointer = str(error.get("pointer") or "the body").lstrip("/")
    return f"{pointer}: {error.get('detail', '')}"


def _sentence(rejected: RejectedMessage, kind: str) -> tuple[str, str]:
    """The one-line title and the sentence a planner reads."""
    sender = rejected.system.code if rejected.system_id else "An unknown sender"
    what = rejected.type or "message"
    ident = f" (event {rejected.event_id})" if rejected.event_id else ""
    more = len(rejected.errors) - 1
    others = f" and {more} more problem{'s' if more > 1 else ''}" if more > 0 else ""
    if kind == Case.Kind.UNKNOWN_TYPE:
        title = f"{sender} sends an event type no contract describes: {what}"
        summary = (
            f"{sender} sent a {what} event{ident}, a type no contract describes, so it was refused. "
            f"Either the sender uses a wrong type name or the contract is missing."
        )
    elif kind == Case.Kind.FOREIGN_SOURCE:
        title = f"{sender} sent {what} it may not send: {_first_error(rejected)}"[:300]
        summary = (
            f"{sender} sent a {what} message{ident} that is not theirs to send "
            f"({_first_error(rejected)}), so it was refused."
        )
    else:
        title = f"{sender} sends {what} we refuse: {_first_error(rejected)}"[:300]
        summary = (
            f"{sender} sent a {what} message{ident} that we refused: {_first_error(rejected)}{others}. "
            f"Fix and resubmit it here, or have {sender} correct what it sends."
        )
    return title, summary


def _trace_id(rejected: RejectedMessage) -> int | None:
    """A trace the refused message names (its first root identifier that has one)."""
    for identifier in rejected.identifiers.all():
        if identifier.kind in ROOT_FLOWS:
            trace = trace_for_identifier(kind=identifier.kind, value=identifier.value, access=_TOWER)
            if trace is not None:
                return trace.pk
    return None


def sighting_of(rejected: RejectedMessage) -> Sighting:
    kind = kind_of(rejected)
    title, summary = _sentence(rejected, kind)
    return Sighting(
        kind=kind,
        source=Occurrence.Source.REJECTED,
        ref_id=rejected.pk,
        occurred_at=rejected.received_at,
        title=title,
        summary=summary,
        severity=Case.Severity.HIGH if kind == Case.Kind.FOREIGN_SOURCE else Case.Severity.MEDIUM,
        error_class=error_class_of(rejected),
        business_key=rejected.type or rejected.endpoint,
        system_id=rejected.system_id,
        plant_id=rejected.plant_id,
        supplier_id=rejected.supplier_id,
        trace_id=_trace_id(rejected),
        detail=_first_error(rejected),
        evidence={
            "rejected_message": rejected.pk,
            "system": rejected.system.code if rejected.system_id else None,
            "type": rejected.type,
            "event_id": rejected.event_id,
            "source": rejected.source,
            "status_code": rejected.status_code,
            "problem_type": rejected.problem_type,
            "errors": rejected.errors[:20],
            "identifiers": [[i.kind, i.value] for i in rejected.identifiers.all()][:20],
        },
    )


def rejected_sightings(*, ids: Iterable[int]) -> list[Sighting]:
    """Sightings for the refused messages `ids` whose cause is not gone already."""
    rows = (
        RejectedMessage.objects.filter(pk__in=list(ids))
        .select_related("system")
        .prefetch_related("identifiers")
        .order_by("received_at", "id")
    )
    gone = set(rejected_gone(ids=[row.pk for row in rows]))
    return [sighting_of(row) for row in rows if row.pk not in gone]


def _fixed() -> Q:
    accepted = Resubmission.objects.filter(original=OuterRef("pk"), state=Resubmission.State.ACCEPTED)
    arrived = Event.objects.filter(source=OuterRef("source"), event_id=OuterRef("event_id"))
    return Q(Exists(accepted)) | (~Q(event_id="") & Q(Exists(arrived)))


def rejected_gone(*, ids: Iterable[int]) -> list[int]:
    """Those of `ids` fixed since: resubmitted and accepted, or the same event accepted later."""
    return list(
        RejectedMessage.objects.filter(pk__in=list(ids)).filter(_fixed()).values_list("pk", flat=True)
    )


def rejected_missed(*, since: datetime, limit: int) -> list[int]:
    """Refused messages since `since` that no case counts yet (the sweeper's catch-up)."""
    counted = Occurrence.objects.filter(source=Occurrence.Source.REJECTED, ref_id=OuterRef("pk"))
    return list(
        RejectedMessage.objects.filter(received_at__gte=since)
        .exclude(Exists(counted))
        .exclude(_fixed())
        .order_by("received_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def rejected_fixed_uncleared(*, limit: int) -> list[int]:
    """Refused messages fixed since but still counted in a case (the sweeper clears them)."""
    counted = Occurrence.objects.filter(
        source=Occurrence.Source.REJECTED, ref_id=OuterRef("pk"), cleared_at__isnull=True
    )
    return list(
        RejectedMessage.objects.filter(Exists(counted)).filter(_fixed()).values_list("pk", flat=True)[:limit]
    )
