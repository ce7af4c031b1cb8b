"""`/api/v1/exceptions`: the queue's filters, scope (another plant's case is a 404), viewers
refused (403), a lost race told (409, "changed meanwhile"), and every error a problem naming
its field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controltower.audit.models import AuditEntry
from exceptions.models import Case, CaseEntry, Team
from exceptions.services import Sighting, case_acknowledge, cases_open_or_fold
from exceptions.services.following import cases_follow
from tests.conftest import PASSWORD
from tests.exceptions.helpers import open_case

pytestmark = pytest.mark.django_db

API = "/api/v1/exceptions"
PROBLEM = "application/problem+json"


def made_cases(count: int, *, plant=None, kind=Case.Kind.VALIDATION, severity=Case.Severity.MEDIUM, key="k"):
    """`count` cases opened by the tower's own opening service (one sighting each)."""
    now = timezone.now()
    sightings = [
        Sighting(
            kind=kind,
            source="rejected",
            ref_id=10_000 + number,
            occurred_at=now - timedelta(minutes=number),
            title=f"{key} case {number}",
            summary=f"{key} case {number} happened.",
            severity=severity,
            business_key=f"{key}-{number}",
            plant_id=plant.pk if plant else None,
        )
        for number in range(count)
    ]
    return [outcome.case for outcome in cases_open_or_fold(sightings=sightings)]


def south_dead_letter_case(dead_letter) -> Case:
    delivery = dead_letter(plant="P-SOUTH")
    cases_follow(delivery_ids=[delivery.pk])
    return Case.objects.get(kind="dead_letter")


def signed_in(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_list_takes_the_queues_filters_within_the_callers_scope(
    client, handler, north_handler, refuse, dead_letter
):
    north = open_case(refuse)
    south = south_dead_letter_case(dead_letter)
    signed_in(client, handler)
    assert set(ids_of(client.get(API))) == {north.pk, south.pk}
    assert ids_of(client.get(API, {"kind": "dead_letter"})) == [south.pk]
    assert ids_of(client.get(API, {"plant": "P-NORTH"})) == [north.pk]
    assert ids_of(client.get(API, {"queue": "unassigned", "state": "open"})) != []
    row = client.get(f"{API}", {"kind": "validation"}).json()["results"][0]
    assert row["plant"] == "P-NORTH" and row["severity"] in ("low", "medium", "high", "critical")
    assert row["version"] == north.version and row["state"] == "open"

    client.logout()
    signed_in(client, north_handler)
    assert ids_of(client.get(API)) == [north.pk]  # the south case is not in their scope
    assert client.get(f"{API}/{south.pk}").status_code == 404
    assert client.get(f"{API}/{north.pk}").status_code == 200


def test_a_bad_filter_is_a_problem_naming_the_parameter(client, handler):
    signed_in(client, handler)
    response = client.get(API, {"state": "sleeping", "severity": "huge"})
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert pointers == {"/state", "/severity"}


def test_pages_follow_the_sort_across_cursors(client, handler, plants, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 3}
    made_cases(4, plant=plants["north"], severity=Case.Severity.HIGH, key="high")
    made_cases(3, plant=plants["north"], severity=Case.Severity.LOW, key="low")
    expected = list(
        Case.objects.order_by("-severity", "sla_due_at", "-id").values_list("pk", flat=True)
    )  # every case here has an SLA
    signed_in(client, handler)
    seen, url = [], API
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == expected
    by_age = []
    url = f"{API}?sort=age"
    while url:
        body = client.get(url).json()
        by_age += [row["id"] for row in body["results"]]
        url = body["next"]
    assert by_age == list(Case.objects.order_by("opened_at", "id").values_list("pk", flat=True))


def test_the_detail_shows_evidence_and_history_and_the_payload_only_to_who_may_read_it(
    client, handler, make_user, refuse
):
    from controltower.accounts.roles import Role

    case = open_case(refuse)
    signed_in(client, handler)
    body = client.get(f"{API}/{case.pk}").json()
    assert body["summary"] == case.summary and body["evidence"]["rejected_message"]
    assert [entry["action"] for entry in body["history"]] == ["opened"]
    refused = body["occurrence_list"][0]["rejected_message"]
    assert '"lots"' in refused["body"]  # the handler may read payloads
    client.logout()
    manager = make_user("mona", Role.MANAGER)  # may view, not read payloads
    signed_in(client, manager)
    hidden = client.get(f"{API}/{case.pk}").json()["occurrence_list"][0]["rejected_message"]
    assert hidden["body"] is None and hidden["errors"]


def test_a_handler_works_a_case_through_the_api_and_each_step_is_audited(client, handler, refuse):
    case = open_case(refuse)
    Team.objects.create(name="North desk")
    signed_in(client, handler)
    answer = client.post(f"{API}/{case.pk}/assign", {"assignee": "me", "team": "North desk", "version": 1},
                         content_type="application/json")  # fmt: skip
    assert answer.status_code == 200, answer.content
    assert answer.json()["assignee"] == handler.username and answer.json()["team"] == "North desk"
    version = answer.json()["version"]
    answer = client.post(
        f"{API}/{case.pk}/acknowledge", {"version": version}, content_type="application/json"
    )
    assert answer.json()["state"] == "acknowledged"
    until = (timezone.now() + timedelta(hours=2)).isoformat()
    answer = client.post(f"{API}/{case.pk}/snooze", {"until": until}, content_type="application/json")
    assert answer.json()["state"] == "snoozed"
    answer = client.post(
        f"{API}/{case.pk}/comment", {"comment": "asked MES"}, content_type="application/json"
    )
    assert answer.status_code == 200
    answer = client.post(
        f"{API}/{case.pk}/resolve", {"reason_code": "fixed_at_source"}, content_type="application/json"
    )
    assert answer.json()["state"] == "resolved"
    actions = list(CaseEntry.objects.filter(case=case, actor=handler).values_list("action", flat=True))
    assert sorted(actions) == ["acknowledged", "assigned", "commented", "resolved", "snoozed"]
    audited = AuditEntry.objects.filter(object_id=str(case.pk), actor=handler).values_list(
        "action", flat=True
    )
    assert sorted(audited) == [f"case.{action}" for action in sorted(actions)]


def test_the_loser_of_a_race_gets_409_saying_who_changed_it_and_nothing_is_done(
    client, handler, make_user, refuse
):
    from controltower.accounts.roles import Role

    case = open_case(refuse)
    rival = make_user("rita", Role.EXCEPTION_HANDLER)
    case_acknowledge(case_id=case.pk, user=rival, version=case.version)  # rita was first
    signed_in(client, handler)
    answer = client.post(
        f"{API}/{case.pk}/resolve",
        {"reason_code": "fixed_here", "version": case.version},
        content_type="application/json",
    )
    assert answer.status_code == 409 and answer["Content-Type"] == PROBLEM
    assert "changed meanwhile" in answer.json()["detail"] and "rita" in answer.json()["detail"]
    assert answer.json()["type"] == "/problems/conflict"
    case.refresh_from_db()
    assert case.state == "acknowledged"
    # An action the state does not allow is a conflict too; a bad field is a 400 naming it.
    again = client.post(f"{API}/{case.pk}/acknowledge", {}, content_type="application/json")
    assert again.status_code == 409 and "acknowledged already" in again.json()["detail"]
    bad = client.post(f"{API}/{case.pk}/resolve", {"reason_code": "bored"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/reason_code"
    other = client.post(f"{API}/{case.pk}/resolve", {"reason_code": "other"}, content_type="application/json")
    assert other.status_code == 400 and other.json()["errors"][0]["pointer"] == "/comment"
    past = client.post(
        f"{API}/{case.pk}/snooze", {"until": "2001-01-01T00:00:00Z"}, content_type="application/json"
    )
    assert past.status_code == 400 and past.json()["errors"][0]["pointer"] == "/until"
    nobody = client.post(f"{API}/{case.pk}/assign", {"assignee": "ghost"}, content_type="application/json")
    assert nobody.status_code == 400 and nobody.json()["errors"][0]["pointer"] == "/assignee"


def test_viewers_may_read_but_not_act_and_scoped_handlers_not_on_another_plants_case(
    client, viewer, north_handler, refuse, dead_letter
):
    north = open_case(refuse)
    south = south_dead_letter_case(dead_letter)
    signed_in(client, viewer)
    assert client.get(f"{API}/{north.pk}").status_code == 200
    refused = client.post(f"{API}/{north.pk}/acknowledge", {}, content_type="application/json")
    assert refused.status_code == 403 and refused["Content-Type"] == PROBLEM
    bulk = client.post(
        f"{API}/bulk", {"action": "acknowledge", "ids": [north.pk]}, content_type="application/json"
    )
    assert bulk.status_code == 403
    client.logout()
    signed_in(client, north_handler)
    hidden = client.post(f"{API}/{south.pk}/acknowledge", {}, content_type="application/json")
    assert hidden.status_code == 404 and hidden["Content-Type"] == PROBLEM
    assert (
        client.post(f"{API}/{south.pk}/retry", {"reason": "x"}, content_type="application/json").status_code
        == 404
    )
    south.refresh_from_db()
    assert south.state == "open" and not south.entries.exclude(action="opened").exists()


def test_a_dead_letter_case_is_retried_through_the_api(client, handler, dead_letter, refuse):
    delivery = dead_letter()
    cases_follow(delivery_ids=[delivery.pk])
    case = Case.objects.get(kind="dead_letter")
    signed_in(client, handler)
    answer = client.post(f"{API}/{case.pk}/retry", {"reason": "ERP back"}, content_type="application/json")
    assert answer.status_code == 202 and answer.json()["total"] == 1
    validation = open_case(refuse)
    wrong = client.post(f"{API}/{validation.pk}/retry", {"reason": "x"}, content_type="application/json")
    assert wrong.status_code == 409 and "dead-letter" in wrong.json()["detail"]


def test_the_schema_describes_the_queue_api_as_it_answers():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    listing = schema["paths"][API]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert {
        "queue",
        "state",
        "kind",
        "severity",
        "plant",
        "supplier",
        "system",
        "age",
        "sort",
        "cursor",
    } <= set(parameters)
    assert parameters["severity"]["schema"]["items"]["enum"] == ["low", "medium", "high", "critical"]
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"next", "previous", "results"} <= set(schema["components"]["schemas"][page]["properties"])
    for action in ("acknowledge", "assign", "snooze", "resolve", "ignore", "comment", "reopen"):
        responses = schema["paths"][f"{API}/{{id}}/{action}"]["post"]["responses"]
        assert {"200", "400", "403", "404", "409"} <= set(responses), action
        assert list(responses["409"]["content"]) == ["application/problem+json"]
    export = schema["paths"][f"{API}/export"]["get"]
    assert list(export["responses"]["200"]["content"]) == ["text/csv"]
    assert "plant" in {p["name"] for p in export["parameters"]}
    assert "201" in schema["paths"][f"{API}/bulk"]["post"]["responses"]
    assert "409" in schema["paths"][f"{API}/bulk/{{id}}/start"]["post"]["responses"]
