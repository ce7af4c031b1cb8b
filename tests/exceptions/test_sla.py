"""Handling time and escalation: a case past its handling time escalates once per opening — to
the policy's second team, with its manager told — and its history and the audit log say so."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection

from controltower.accounts.roles import Role
from controltower.audit.models import AuditEntry
from exceptions.models import Case, Notice, RoutingRule, SlaPolicy, Team
from exceptions.services import case_resolve, case_snooze
from exceptions.services.routing_sla import case_escalate, cases_escalate
from exceptions.tasks import escalate
from tests.exceptions.test_routing import open_one


@pytest.fixture
def manager(make_user):
    user = make_user("maria", Role.MANAGER)
    user.email = "maria@example.com"
    user.save()
    return user


@pytest.fixture
def policy(db, manager):
    first = Team.objects.create(name="north", email="north@example.com")
    second = Team.objects.create(name="second line", email="second@example.com")
    RoutingRule.objects.create(name="everything to north", team=first)
    return SlaPolicy.objects.create(
        severity=Case.Severity.HIGH, hours=1, escalate_team=second, escalate_manager=manager
    )


@pytest.mark.django_db
def test_a_case_past_its_handling_time_escalates_once(policy, manager):
    case = open_one(key="a", severity=Case.Severity.HIGH)
    assert case.team.name == "north" and case.sla_due_at == case.opened_at + timedelta(hours=1)
    version = case.version

    assert cases_escalate(now=case.opened_at + timedelta(minutes=59)) == 0
    assert cases_escalate(now=case.opened_at + timedelta(hours=2)) == 1
    case.refresh_from_db()
    assert case.team == policy.escalate_team
    assert case.escalated_at == case.opened_at + timedelta(hours=2)
    assert case.version == version + 1  # a handler acting on the old owner is told it changed

    # Again, and again from another worker's run: nothing more.
    assert cases_escalate(now=case.opened_at + timedelta(hours=3)) == 0
    assert case_escalate(case_id=case.pk, now=case.opened_at + timedelta(hours=3)) is False
    [entry] = case.entries.filter(action="escalated")
    assert entry.before["team"] == "north" and entry.after["team"] == "second line"
    assert "ran out" in entry.comment and "maria" in entry.comment
    assert AuditEntry.objects.filter(action="case.escalated", object_id=str(case.pk)).count() == 1
    # The owners before and after, and the manager, are to be told of the breach (by email).
    told = set(Notice.objects.filter(case=case, event="breached").values_list("recipient", flat=True))
    assert told == {
        f"team:{case.team_id}",
        f"team:{Team.objects.get(name='north').pk}",
        f"user:{manager.pk}",
    }


@pytest.mark.django_db
def test_a_severity_without_escalation_is_marked_and_stays_with_its_team(policy):
    case = open_one(key="a", severity=Case.Severity.MEDIUM)  # no policy: the default 24 h
    assert cases_escalate(now=case.opened_at + timedelta(hours=25)) == 1
    case.refresh_from_db()
    assert case.team.name == "north" and case.escalated_at is not None
    assert "No escalation is set" in case.entries.get(action="escalated").comment


@pytest.mark.django_db
def test_snoozed_and_closed_cases_do_not_escalate(policy, handler):
    snoozed = open_one(key="a", severity=Case.Severity.HIGH)
    resolved = open_one(key="b", severity=Case.Severity.HIGH)
    later = snoozed.opened_at + timedelta(hours=2)
    case_snooze(case_id=snoozed.pk, user=handler, until=later + timedelta(hours=5))
    case_resolve(case_id=resolved.pk, user=handler, reason_code="fixed_here")
    assert cases_escalate(now=later) == 0


@pytest.mark.django_db
def test_a_reopened_case_gets_a_new_handling_time_and_can_escalate_again(policy, handler):
    case = open_one(key="a", ref_id=700_001, severity=Case.Severity.HIGH)
    assert cases_escalate(now=case.opened_at + timedelta(hours=2)) == 1
    case_resolve(case_id=case.pk, user=handler, reason_code="fixed_here")

    again = open_one(key="a", ref_id=700_002, severity=Case.Severity.HIGH)
    assert again.pk == case.pk and again.escalated_at is None
    assert again.sla_due_at == again.opened_at + timedelta(hours=1)
    assert cases_escalate(now=again.opened_at + timedelta(hours=2)) == 1
    assert again.entries.filter(action="escalated").count() == 2


@pytest.mark.django_db
def test_the_beat_task_escalates_what_is_overdue(policy):
    case = open_one(key="a", severity=Case.Severity.HIGH)
    Case.objects.filter(pk=case.pk).update(sla_due_at=case.opened_at - timedelta(minutes=1))
    escalate()
    case.refresh_from_db()
    assert case.escalated_at is not None
    schedule = django_settings.CELERY_BEAT_SCHEDULE["exceptions-escalate"]
    assert schedule["task"] == "exceptions.escalate" and schedule["schedule"] <= 60


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_two_workers_escalating_at_once_escalate_once(policy):
    case = open_one(key="a", severity=Case.Severity.HIGH)
    now = case.opened_at + timedelta(hours=2)
    results, barrier = [], threading.Barrier(4)

    def run():
        barrier.wait()
        try:
            results.append(case_escalate(case_id=case.pk, now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert case.entries.filter(action="escalated").count() == 1
    assert Notice.objects.filter(case=case, event="breached").count() == 3
