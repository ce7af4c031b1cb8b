"""A handler's actions on a case: acknowledge, assign, snooze, resolve, ignore, reopen, comment.

Each is race-safe the same way: the case row is locked, and when the caller says which
`version` they looked at and the case has moved on since, nothing is done and `CaseChanged`
says so (two handlers resolving at once: one wins, the other is told). Each writes the case's
history and the audit log and announces the change, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from controltower.accounts.access import access_for
from controltower.accounts.roles import Capability
from exceptions.models import Case, CaseEntry, Team
from exceptions.services.errors import CaseActionError, CaseChanged
from exceptions.services.history import case_history_record, case_snapshot

RESOLVE_REASONS: dict[str, str] = {
    "fixed_at_source": "Fixed at the source",
    "fixed_here": "Fixed here (retried, resubmitted or corrected)",
    "duplicate": "Duplicate of another case",
    "no_action_needed": "No action needed",
    "other": "Other (see the comment)",
}
IGNORE_REASONS: dict[str, str] = {
    "expected": "Expected behaviour",
    "test_data": "Test or demo data",
    "known_issue": "Known issue, tracked elsewhere",
    "other": "Other (see the comment)",
}


def _act(
    *,
    case_id: int,
    version: int | None,
    user,
    action: str,
    change: Callable[[Case], None],
    comment: str = "",
    bump: bool = True,
) -> Case:
    """Lock the case, check `version`, apply `change` (which raises `CaseActionError` when the
    action does not apply), save and record. `bump`: a workflow change, so a new version."""
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None:
            raise CaseActionError(f"There is no case {case_id}.")
        if version is not None and case.version != version:
            raise CaseChanged(case)
        before = case_snapshot(case)
        change(case)
        case.updated_at = timezone.now()
        if bump:
            case.version += 1
        case.save()
        case_history_record(
            case=case, actor=user, action=action, before=before, after=case_snapshot(case), comment=comment
        )
    return case


def _require_active(case: Case, doing: str) -> None:
    if not case.is_active:
        raise CaseActionError(f"Case {case.pk} is {case.get_state_display().lower()}: it cannot be {doing}.")


def case_acknowledge(*, case_id: int, user, version: int | None = None) -> Case:
    """Say "I have seen it": open → acknowledged (a snoozed case also wakes)."""

    def change(case: Case) -> None:
        if case.state not in (Case.State.OPEN, Case.State.SNOOZED):
            raise CaseActionError(f"Case {case.pk} is {case.get_state_display().lower()} already.")
        case.state = Case.State.ACKNOWLEDGED
        case.snoozed_until, case.snoozed_from = None, ""

    return _act(
        case_id=case_id, version=version, user=user, action=CaseEntry.Action.ACKNOWLEDGED, change=change
    )


def case_assign(
    *,
    case_id: int,
    user,
    assignee=None,
    team: Team | None = None,
    version: int | None = None,
    comment: str = "",
) -> Case:
    """Give the case to `assignee` and/or `team` (None for either leaves it unassigned). The
    assignee must be able to work it: they hold the handler's capability and see its scope."""

    def change(case: Case) -> None:
        _require_active(case, "assigned")
        if assignee is not None:
            access = access_for(assignee)
            if not access.can(Capability.WORK_EXCEPTIONS):
                raise CaseActionError(f"{assignee} does not work exception cases.", field="assignee")
            if not access.scope.allows(plant_id=case.plant_id, supplier_id=case.supplier_id):
                raise CaseActionError(f"Case {case.pk} is outside {assignee}'s scope.", field="assignee")
        if assignee == case.assignee and team == case.team:
            raise CaseActionError(f"Case {case.pk} is assigned so already.", field="assignee")
        case.assignee, case.team = assignee, team

    return _act(
        case_id=case_id,
        version=version,
        user=user,
        action=CaseEntry.Action.ASSIGNED,
        change=change,
        comment=comment,
    )


def case_snooze(
    *, case_id: int, user, until: datetime, version: int | None = None, comment: str = ""
) -> Case:
    """Put the case aside until `until` (in the future); it comes back to the state it had."""

    def change(case: Case) -> None:
        _require_active(case, "snoozed")
        if until <= timezone.now():
            raise CaseActionError("Snooze until a time in the future.", field="until")
        if case.state != Case.State.SNOOZED:
            case.snoozed_from = case.state
        case.state, case.snoozed_until = Case.State.SNOOZED, until

    return _act(
        case_id=case_id,
        version=version,
        user=user,
        action=CaseEntry.Action.SNOOZED,
        change=change,
        comment=comment,
    )


def _close(state: str, reasons: dict[str, str], reason_code: str, comment: str) -> Callable[[Case], None]:
    doing = "resolved" if state == Case.State.RESOLVED else "ignored"

    def change(case: Case) -> None:
        _require_active(case, doing)
        if reason_code not in reasons:
            raise CaseActionError(f"Choose a reason: {', '.join(reasons)}.", field="reason_code")
        if reason_code == "other" and not comment.strip():
            raise CaseActionError("Say why in the comment.", field="comment")
        case.state, case.closed_at = state, timezone.now()
        case.snoozed_until, case.snoozed_from = None, ""
        case.reason_code, case.reason_comment = reason_code, comment.strip()[:1000]

    return change


def case_resolve(
    *, case_id: int, user, reason_code: str, comment: str = "", version: int | None = None
) -> Case:
    """Close the case as dealt with. It reopens if it happens again."""
    return _act(
        case_id=case_id,
        version=version,
        user=user,
        action=CaseEntry.Action.RESOLVED,
        change=_close(Case.State.RESOLVED, RESOLVE_REASONS, reason_code, comment),
        comment=comment,
    )


def case_ignore(
    *, case_id: int, user, reason_code: str, comment: str = "", version: int | None = None
) -> Case:
    """Close the case as not worth acting on. It keeps counting but does not reopen by itself."""
    return _act(
        case_id=case_id,
        version=version,
        user=user,
        action=CaseEntry.Action.IGNORED,
        change=_close(Case.State.IGNORED, IGNORE_REASONS, reason_code, comment),
        comment=comment,
    )


def case_reopen(*, case_id: int, user, comment: str = "", version: int | None = None) -> Case:
    """Open a resolved or ignored case again by hand."""

    def change(case: Case) -> None:
        if case.is_active:
            raise CaseActionError(f"Case {case.pk} is {case.get_state_display().lower()}, not closed.")
        now = timezone.now()
        case.state, case.opened_at, case.closed_at = Case.State.OPEN, now, None
        case.reason_code = case.reason_comment = ""

    return _act(
        case_id=case_id,
        version=version,
        user=user,
        action=CaseEntry.Action.REOPENED,
        change=change,
        comment=comment,
    )


def case_comment(*, case_id: int, user, comment: str) -> Case:
    """Add a comment. Not a workflow change: it never makes another handler's action fail."""
    if not comment.strip():
        raise CaseActionError("Write a comment.", field="comment")
    return _act(
        case_id=case_id,
        version=None,
        user=user,
        action=CaseEntry.Action.COMMENTED,
        change=lambda case: None,
        comment=comment.strip(),
        bump=False,
    )


def cases_wake(*, now: datetime | None = None, limit: int = 500) -> int:
    """Snoozed cases whose time has come go back to the state they had; returns how many.
    Idempotent (scheduled by beat; a case woken already is no longer snoozed)."""
    now = now or timezone.now()
    ids = list(
        Case.objects.filter(state=Case.State.SNOOZED, snoozed_until__lte=now)
        .order_by("snoozed_until")
        .values_list("id", flat=True)[:limit]
    )
    woken = 0
    for case_id in ids:

        def change(case: Case) -> None:
            if case.state != Case.State.SNOOZED or case.snoozed_until > now:
                raise CaseActionError("awake already")
            case.state = case.snoozed_from or Case.State.OPEN
            case.snoozed_until, case.snoozed_from = None, ""

        try:
            _act(case_id=case_id, version=None, user=None, action=CaseEntry.Action.WOKE, change=change)
        except CaseActionError:
            continue
        woken += 1
    return woken
