"""A handler's actions: each allowed only where it makes sense, each in the history and the
audit log with before → after, each announced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controltower.accounts.roles import Role
from controltower.audit.models import AuditEntry
from controltower.changes import Kind, changed
from exceptions.models import Case, Team
from exceptions.services import (
    CaseActionError,
    CaseChanged,
    case_acknowledge,
    case_assign,
    case_comment,
    case_ignore,
    case_reopen,
    case_resolve,
    case_snooze,
    cases_wake,
)
from tests.exceptions.helpers import open_case

pytestmark = pytest.mark.django_db


def test_every_action_is_in_the_history_and_the_audit_log_with_before_and_after(
    refuse, handler, make_user, django_capture_on_commit_callbacks
):
    colleague = make_user("carla", Role.EXCEPTION_HANDLER)
    team = Team.objects.create(name="Inbound")
    heard = []
    changed.connect(lambda sender, changes, **kw: heard.extend(changes), weak=False, dispatch_uid="t-heard")
    try:
        # The test's transaction never commits: its on-commit callbacks (one batch of changes)
        # run at the end of this block, so the case is opened within it too.
        with django_capture_on_commit_callbacks(execute=True):
            case = open_case(refuse)
            case_acknowledge(case_id=case.pk, user=handler, version=1)
            case_assign(case_id=case.pk, user=handler, assignee=colleague, team=team, version=2)
            case_snooze(case_id=case.pk, user=colleague, until=timezone.now() + timedelta(hours=2), version=3)
            case_comment(case_id=case.pk, user=colleague, comment="waiting for the supplier")
            case_resolve(
                case_id=case.pk, user=colleague, reason_code="fixed_at_source", comment="fixed", version=4
            )
            case_reopen(case_id=case.pk, user=handler, comment="not really", version=5)
            case_ignore(case_id=case.pk, user=handler, reason_code="test_data", version=6)
    finally:
        changed.disconnect(dispatch_uid="t-heard")
    case.refresh_from_db()
    assert (case.state, case.version, case.reason_code) == ("ignored", 7, "test_data")
    history = list(case.entries.order_by("at", "id"))
    assert [entry.action for entry in history] == [
        "opened",
        "acknowledged",
        "assigned",
        "snoozed",
        "commented",
        "resolved",
        "reopened",
        "ignored",
    ]
    assigned = history[2]
    assert assigned.before == {} or assigned.before == {"assignee": None, "team": None}
    assert assigned.after == {"assignee": "carla", "team": "Inbound"}
    assert history[3].before["state"] == "acknowledged" and history[3].after["state"] == "snoozed"
    assert history[4].comment == "waiting for the supplier" and history[4].actor == colleague
    audited = list(AuditEntry.objects.filter(object_id=str(case.pk)).order_by("at", "id"))
    assert [entry.action for entry in audited] == [f"case.{entry.action}" for entry in history]
    assert audited[2].details["after"] == {"assignee": "carla", "team": "Inbound"}
    assert audited[5].actor_name == "carla" and audited[5].reason == "fixed"
    cases = [c for c in heard if c.kind == Kind.CASE_CHANGED]
    assert cases and all(c.id == case.pk and c.plant_ids == {case.plant_id} for c in cases)


def test_a_stale_version_is_refused_as_changed_meanwhile_and_changes_nothing(refuse, handler):
    case = open_case(refuse)
    case_acknowledge(case_id=case.pk, user=handler, version=1)
    with pytest.raises(CaseChanged, match=r"changed meanwhile \(hanna: acknowledged\)"):
        case_resolve(case_id=case.pk, user=handler, reason_code="no_action_needed", version=1)
    case.refresh_from_db()
    assert (case.state, case.version, case.entries.count()) == ("acknowledged", 2, 2)


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (lambda c, u: case_acknowledge(case_id=c.pk, user=u), "acknowledged already"),
        (lambda c, u: case_resolve(case_id=c.pk, user=u, reason_code="made_up"), "Choose a reason"),
        (lambda c, u: case_resolve(case_id=c.pk, user=u, reason_code="other"), "Say why"),
        (lambda c, u: case_snooze(case_id=c.pk, user=u, until=timezone.now()), "in the future"),
        (lambda c, u: case_comment(case_id=c.pk, user=u, comment="  "), "Write a comment"),
        (lambda c, u: case_reopen(case_id=c.pk, user=u), "not closed"),
    ],
)
def test_an_action_that_does_not_apply_is_refused_with_a_reason(refuse, handler, action, match):
    case = open_case(refuse)
    case_acknowledge(case_id=case.pk, user=handler)
    with pytest.raises(CaseActionError, match=match):
        action(case, handler)
    assert Case.objects.get(pk=case.pk).version == 2


def test_a_case_is_assigned_only_to_a_handler_who_may_see_it(refuse, handler, make_user, plants, viewer):
    case = open_case(refuse)  # plant north
    south = make_user("sven", Role.EXCEPTION_HANDLER, everything=False, plants=[plants["south"]])
    with pytest.raises(CaseActionError, match="outside sven's scope"):
        case_assign(case_id=case.pk, user=handler, assignee=south)
    with pytest.raises(CaseActionError, match="does not work exception cases"):
        case_assign(case_id=case.pk, user=handler, assignee=viewer)
    case_assign(case_id=case.pk, user=handler, assignee=handler)
    assert Case.objects.get(pk=case.pk).assignee == handler


def test_a_snoozed_case_wakes_to_the_state_it_had(refuse, handler):
    case = open_case(refuse)
    case_acknowledge(case_id=case.pk, user=handler)
    case_snooze(case_id=case.pk, user=handler, until=timezone.now() + timedelta(minutes=5))
    assert cases_wake() == 0
    assert cases_wake(now=timezone.now() + timedelta(minutes=6)) == 1
    case.refresh_from_db()
    assert (case.state, case.snoozed_until) == ("acknowledged", None)
    assert case.entries.first().action == "woke" and case.entries.first().actor is None
    assert cases_wake(now=timezone.now() + timedelta(minutes=6)) == 0  # idempotent
