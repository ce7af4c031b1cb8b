"""Routing: a case that opens (or reopens) goes to the queue of the most specific matching rule,
the lower order breaking ties, or to the unassigned queue; the opening's line in its history
and in the audit log shows the owner and says which rule decided."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from django.utils import timezone

from controltower.accounts.roles import Role
from controltower.audit.models import AuditEntry
from exceptions.models import Case, RoutingRule, SlaPolicy, Team
from exceptions.services import case_resolve
from exceptions.services.opening import Sighting, cases_open_or_fold
from exceptions.services.routing import routing_rule_for
from tests.exceptions.helpers import open_case

pytestmark = pytest.mark.django_db

_refs = count(1)


def sighting(
    *,
    kind: str = Case.Kind.DEAD_LETTER,
    severity: int = Case.Severity.MEDIUM,
    key: str = "",
    plant=None,
    supplier=None,
    system=None,
    ref_id: int | None = None,
) -> Sighting:
    """What a source would report; each call a new occurrence (`key` picks the case)."""
    return Sighting(
        kind=kind,
        source="delivery",
        ref_id=ref_id or next(_refs),
        occurred_at=timezone.now(),
        title=f"{kind} {key}".strip(),
        summary=f"Something went wrong ({key or kind}).",
        severity=severity,
        business_key=key,
        plant_id=getattr(plant, "pk", None),
        supplier_id=getattr(supplier, "pk", None),
        system_id=getattr(system, "pk", None),
    )


def open_one(**kwargs) -> Case:
    [outcome] = cases_open_or_fold(sightings=[sighting(**kwargs)])
    outcome.case.refresh_from_db()
    return outcome.case


@pytest.fixture
def teams(db):
    return {name: Team.objects.create(name=name) for name in ("any", "dead", "north-dead", "north", "night")}


def rule(name: str, team: Team | None, order: int = 100, **criteria) -> RoutingRule:
    return RoutingRule.objects.create(name=name, team=team, order=order, **criteria)


def test_the_most_specific_matching_rule_wins(teams, plants, suppliers):
    rule("catch-all", teams["any"])
    rule("dead letters", teams["dead"], kind=Case.Kind.DEAD_LETTER)
    rule("north dead letters", teams["north-dead"], kind=Case.Kind.DEAD_LETTER, plant=plants["north"])
    rule("north", teams["north"], order=1, plant=plants["north"])  # lower order, but less specific

    assert open_one(key="a", plant=plants["north"]).team == teams["north-dead"]
    assert open_one(key="b", plant=plants["south"]).team == teams["dead"]
    assert open_one(key="c", kind=Case.Kind.VALIDATION, plant=plants["north"]).team == teams["north"]
    assert open_one(key="d", kind=Case.Kind.VALIDATION, plant=plants["south"]).team == teams["any"]


def test_among_equally_specific_rules_the_lower_order_wins(teams, plants, suppliers):
    by_plant = rule("north plant", teams["north"], order=20, plant=plants["north"])
    by_supplier = rule("acme", teams["dead"], order=10, supplier=suppliers["acme"])
    case = open_one(key="a", plant=plants["north"], supplier=suppliers["acme"])
    assert case.team == teams["dead"]

    by_plant.order, by_supplier.order = 5, 10
    by_plant.save(), by_supplier.save()
    assert open_one(key="b", plant=plants["north"], supplier=suppliers["acme"]).team == teams["north"]


def test_severity_and_system_narrow_a_rule(teams, network):
    rule("high and worse", teams["night"], min_severity=Case.Severity.HIGH)
    rule("from the ERP", teams["dead"], system=network["erp"].system)
    erp = network["erp"].system
    assert open_one(key="a", severity=Case.Severity.CRITICAL).team == teams["night"]
    assert open_one(key="b", severity=Case.Severity.MEDIUM).team is None
    assert open_one(key="c", system=erp, severity=Case.Severity.MEDIUM).team == teams["dead"]


def test_an_unmatched_case_goes_to_the_unassigned_queue_and_its_history_says_so(teams, plants):
    rule("south only", teams["any"], plant=plants["south"])
    RoutingRule.objects.create(name="switched off", team=teams["north"], plant=plants["north"], active=False)
    case = open_one(key="a", plant=plants["north"])
    assert case.team is None and case.assignee is None
    [opened] = case.entries.all()  # routing is part of the opening, one line
    assert opened.action == "opened" and opened.comment.endswith(
        "\nNo routing rule matched: unassigned queue."
    )
    assert opened.actor is None and "team" not in opened.after


def test_the_opening_in_history_and_audit_names_the_owner_and_the_rule(teams, plants):
    rule("north", teams["north"], plant=plants["north"])
    case = open_one(key="a", plant=plants["north"])
    [opened] = case.entries.all()
    assert opened.after["team"] == "north" and opened.comment.endswith("Routed by rule “north”.")
    audit = AuditEntry.objects.get(action="case.opened", object_id=str(case.pk))
    assert audit.details["after"]["team"] == "north"


def test_a_rule_gives_the_case_to_a_person_who_may_work_it(teams, plants, make_user):
    north_handler = make_user("nils", Role.EXCEPTION_HANDLER, everything=False, plants=[plants["north"]])
    rule("north to nils", teams["north"], assignee=north_handler)
    north = open_one(key="a", plant=plants["north"])
    assert (north.team, north.assignee) == (teams["north"], north_handler)
    opened = north.entries.get(action="opened")
    assert (opened.after["team"], opened.after["assignee"]) == ("north", "nils")
    assert "north to nils" in opened.comment

    # Nils cannot see the south plant: the case goes to the team only, and the history says why.
    south = open_one(key="b", plant=plants["south"])
    assert (south.team, south.assignee) == (teams["north"], None)
    assert "cannot work this case" in south.entries.get(action="opened").comment


def test_a_reopened_case_is_routed_again_by_the_rules_of_the_day(teams, plants, handler):
    rule("north", teams["north"], plant=plants["north"])
    case = open_one(key="a", ref_id=900_001, plant=plants["north"])
    assert case.team == teams["north"]
    case_resolve(case_id=case.pk, user=handler, reason_code="fixed_here")
    for each in RoutingRule.objects.all():  # as the admin changes them (saved one by one)
        each.team = teams["night"]
        each.save()

    reopened = open_one(key="a", ref_id=900_002, plant=plants["north"])
    assert reopened.pk == case.pk and reopened.state == "open"
    assert reopened.team == teams["night"]
    actions = list(reopened.entries.order_by("at", "id").values_list("action", flat=True))
    assert actions == ["opened", "resolved", "reopened"]
    entry = reopened.entries.first()
    assert (entry.before["team"], entry.after["team"]) == ("north", "night")
    assert entry.comment.endswith("Routed by rule “north”.")


def test_the_sla_policy_of_the_severity_sets_the_due_time(teams, settings):
    settings.EXCEPTIONS_SLA_HOURS = {4: 1, 3: 4, 2: 24, 1: 72}
    SlaPolicy.objects.create(severity=Case.Severity.HIGH, hours=0.5)
    high = open_one(key="a", severity=Case.Severity.HIGH)
    assert high.sla_due_at == high.opened_at + timedelta(minutes=30)
    medium = open_one(key="b", severity=Case.Severity.MEDIUM)  # no policy: the plain default
    assert medium.sla_due_at == medium.opened_at + timedelta(hours=24)


def test_a_case_opened_from_a_refused_message_is_routed(refuse, teams, plants):
    rule("validation", teams["north"], kind=Case.Kind.VALIDATION, plant=plants["north"])
    case = open_case(refuse)
    assert case.team == teams["north"]
    assert routing_rule_for(case=case).name == "validation"
