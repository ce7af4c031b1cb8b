"""Handling time per severity, and escalation when it runs out.

The handling time of a severity is its `SlaPolicy` (edited in the admin), else the plain default
of settings.EXCEPTIONS_SLA_HOURS. `cases_escalate` (beat) escalates each open or acknowledged
case past its due time ONCE per opening: it marks `escalated_at`, moves the case to the
policy's escalation team if there is one, tells the owners, the new team and the policy's
manager, and writes history and audit. A snoozed case is put aside on purpose: it is escalated
if it is still overdue when its snooze ends.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from exceptions.models import Case, CaseEntry, Notice, SlaPolicy
from exceptions.services.history import WORKFLOW_FIELDS, case_history_record, case_snapshot
from exceptions.services.notify import case_owners, notices_record, recipient_key, recipient_name
from exceptions.services.routing_table import routing_table
from exceptions.services.sla import sla_due

logger = logging.getLogger(__name__)

#: The states whose handling time counts.
RUNNING = (Case.State.OPEN, Case.State.ACKNOWLEDGED)


def case_sla_due(*, severity: int, opened_at: datetime) -> datetime:
    """When a case of `severity` opened at `opened_at` must be handled by."""
    hours = routing_table().hours.get(int(severity))
    if hours is None:
        return sla_due(severity=severity, opened_at=opened_at)
    return opened_at + timedelta(hours=hours)


def cases_overdue(*, now: datetime, limit: int) -> list[int]:
    """Ids of cases past their handling time and not escalated yet, most overdue first."""
    return list(
        Case.objects.filter(state__in=RUNNING, sla_due_at__lte=now, escalated_at__isnull=True)
        .order_by("sla_due_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def cases_escalate(*, now: datetime | None = None, limit: int = 500) -> int:
    """Escalate every case past its handling time (see the module's docstring); returns how
    many were escalated. Idempotent: a case escalates once per opening, however many runs or
    workers see it."""
    now = now or timezone.now()
    escalated = sum(
        case_escalate(case_id=case_id, now=now) for case_id in cases_overdue(now=now, limit=limit)
    )
    if escalated:
        logger.info("exceptions: escalated %d case(s) past their handling time", escalated)
    return escalated


def case_escalate(*, case_id: int, now: datetime | None = None) -> bool:
    """Escalate one case if it is (still) overdue and not escalated; True if this call did."""
    now = now or timezone.now()
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if (
            case is None
            or case.state not in RUNNING
            or case.escalated_at is not None
            or case.sla_due_at is None
            or case.sla_due_at > now
        ):
            return False
        policy = (
            SlaPolicy.objects.filter(severity=case.severity)
            .select_related("escalate_team", "escalate_manager")
            .first()
        )
        owners = case_owners(case)
        before = case_snapshot(case) | {"escalated_at": None}
        case.escalated_at = case.updated_at = now
        team = policy.escalate_team if policy else None
        if team is not None and team.pk != case.team_id:
            case.team = team
            case.version += 1  # a handler acting on what they saw is told the owner changed
        case.save()
        told = [*owners, *case_owners(case)]
        if policy and policy.escalate_manager_id:
            told.append(recipient_key(policy.escalate_manager))
        told = list(dict.fromkeys(told))
        case_history_record(
            case=case,
            actor=None,
            action=CaseEntry.Action.ESCALATED,
            before=before,
            after=case_snapshot(case, WORKFLOW_FIELDS) | {"escalated_at": now.isoformat()},
            comment=_sentence(case, policy, told),
        )
        notices_record(case=case, event=Notice.Event.BREACHED, recipients=told)
    return True


def _sentence(case: Case, policy: SlaPolicy | None, told: list[str]) -> str:
    due = timezone.localtime(case.sla_due_at).strftime("%Y-%m-%d %H:%M %Z")
    parts = [f"The handling time of a {case.get_severity_display().lower()} case ran out at {due}."]
    if policy and policy.escalate_team_id:
        parts.append(f"Escalated to {policy.escalate_team}.")
    if policy and policy.escalate_manager_id:
        parts.append(f"Manager {policy.escalate_manager} is told.")
    if not (policy and (policy.escalate_team_id or policy.escalate_manager_id)):
        parts.append("No escalation is set for this severity.")
    if told:
        parts.append("Notified: " + ", ".join(recipient_name(key) for key in told) + ".")
    return " ".join(parts)
