"""The queue and the case page: filters in the URL, actions through the services, scope (404
outside it), viewers who look but cannot act, and the navigation count."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from controltower.accounts.roles import Role
from controltower.audit.models import AuditEntry
from exceptions.models import Case
from exceptions.services.following import cases_follow
from integrations.delivery.models import ReplayJob, Resubmission
from tests.conftest import PASSWORD
from tests.exceptions.helpers import open_case

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def two_plants(refuse, dead_letter):
    """A validation case at plant north (MES-NORTH) and a dead-letter case at plant south."""
    north = open_case(refuse, event_id="n-1")
    delivery = dead_letter(plant="P-SOUTH")
    cases_follow(delivery_ids=[delivery.pk])
    return north, Case.objects.get(kind="dead_letter")


def case_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-case="(\d+)"', response.content.decode())]


def test_the_queue_lists_cases_and_filters_them_by_the_url(client, handler, two_plants):
    north, south = two_plants
    login(client, handler)
    url = reverse("cases")
    assert sorted(case_ids(client.get(url))) == sorted([north.pk, south.pk])
    assert case_ids(client.get(url, {"kind": "dead_letter"})) == [south.pk]
    assert case_ids(client.get(url, {"plant": "P-NORTH"})) == [north.pk]
    assert case_ids(client.get(url, {"severity": "high"})) == [south.pk]
    assert case_ids(client.get(url, {"system": "erp-post"})) == [south.pk]
    assert case_ids(client.get(url, {"sort": "age"})) == [north.pk, south.pk]
    assert case_ids(client.get(url, {"sort": "severity"})) == [south.pk, north.pk]
    assert case_ids(client.get(url, {"queue": "mine"})) == []
    assert case_ids(client.get(url, {"queue": "unassigned"})) != []
    response = client.get(url, {"severity": "apocalyptic"})
    assert response.status_code == 400 and "severity" in response.content.decode()


def test_resolved_cases_leave_the_default_queue_and_show_with_their_state(client, handler, two_plants):
    north, _ = two_plants
    login(client, handler)
    client.post(
        reverse("case-action", args=[north.pk, "resolve"]),
        {"version": north.version, "reason_code": "fixed_at_source", "comment": "ok"},
    )
    assert north.pk not in case_ids(client.get(reverse("cases")))
    assert case_ids(client.get(reverse("cases"), {"state": "resolved"})) == [north.pk]


def test_a_handler_works_a_case_from_its_page(client, handler, two_plants):
    north, _ = two_plants
    login(client, handler)
    page = client.get(reverse("case", args=[north.pk])).content.decode()
    assert north.summary in page and "lines/0/quantity" in page
    client.post(reverse("case-action", args=[north.pk, "acknowledge"]), {"version": 1})
    client.post(reverse("case-action", args=[north.pk, "assign"]), {"version": 2, "assignee": "me"})
    client.post(reverse("case-action", args=[north.pk, "comment"]), {"comment": "asked the plant"})
    response = client.post(
        reverse("case-action", args=[north.pk, "resolve"]), {"version": 3, "reason_code": "fixed_at_source"}
    )
    north.refresh_from_db()
    assert (north.state, north.assignee, north.reason_code) == ("resolved", handler, "fixed_at_source")
    page = client.get(response.url).content.decode()
    assert "Resolved. It reopens if it happens again." in page
    assert page.count('class="history-row"') == 5 and "asked the plant" in page
    assert AuditEntry.objects.filter(object_id=str(north.pk), actor=handler).count() == 4


def test_acting_on_a_version_someone_else_changed_says_so(client, handler, make_user, two_plants):
    north, _ = two_plants
    other = make_user("olga", Role.EXCEPTION_HANDLER)
    login(client, other)
    client.post(reverse("case-action", args=[north.pk, "acknowledge"]), {"version": 1})
    client.logout()
    login(client, handler)
    response = client.post(
        reverse("case-action", args=[north.pk, "resolve"]),
        {"version": 1, "reason_code": "duplicate"},
        follow=True,
    )
    assert "changed meanwhile (olga: acknowledged)" in response.content.decode()
    assert Case.objects.get(pk=north.pk).state == "acknowledged"


def test_a_plant_scoped_handler_neither_sees_nor_acts_on_another_plants_case(
    client, north_handler, two_plants
):
    north, south = two_plants
    login(client, north_handler)
    assert case_ids(client.get(reverse("cases"))) == [north.pk]
    assert client.get(reverse("case", args=[south.pk])).status_code == 404
    for action in ("acknowledge", "resolve", "comment"):
        response = client.post(
            reverse("case-action", args=[south.pk, action]),
            {"version": 1, "reason_code": "duplicate", "comment": "x"},
        )
        assert response.status_code == 404
    assert client.post(reverse("case-retry", args=[south.pk]), {"reason": "x"}).status_code == 404
    assert Case.objects.get(pk=south.pk).entries.count() == 1  # still only "opened"
    assert client.get(reverse("case", args=[north.pk])).status_code == 200


def test_viewers_see_cases_but_cannot_act(client, viewer, two_plants):
    north, _ = two_plants
    login(client, viewer)
    page = client.get(reverse("case", args=[north.pk])).content.decode()
    assert north.title in page and 'id="acknowledge"' not in page and 'id="case-actions"' not in page
    response = client.post(reverse("case-action", args=[north.pk, "acknowledge"]), {"version": 1})
    assert response.status_code == 403
    assert client.post(reverse("case-retry", args=[north.pk]), {"reason": "x"}).status_code == 403
    assert Case.objects.get(pk=north.pk).state == "open"


def test_retry_the_deliveries_from_a_dead_letter_case_runs_one_job(client, handler, dead_letter):
    deliveries = [dead_letter(f"450000000{n}") for n in range(3)]
    cases_follow(delivery_ids=[d.pk for d in deliveries])
    case = Case.objects.get()
    login(client, handler)
    page = client.get(reverse("case", args=[case.pk])).content.decode()
    assert "Retry 3 deliveries" in page
    response = client.post(reverse("case-retry", args=[case.pk]), {"reason": "ERP is back"})
    job = ReplayJob.objects.get()
    assert response.url == reverse("replay", args=[job.pk])
    assert (job.kind, job.total, job.created_by, job.filter["target"]) == ("retry", 3, handler, "erp-post")
    assert case.entries.first().action == "retried" and case.entries.first().after["job"] == job.pk


def test_resubmit_a_fixed_message_from_its_case(client, handler, refuse):
    import json

    from tests.factories import po_released

    case = open_case(refuse, event_id="fix-1")
    login(client, handler)
    page = client.get(reverse("case", args=[case.pk])).content.decode()
    assert 'id="resubmit"' in page
    rejected_id = case.occurrence_rows.get().ref_id
    body = json.dumps(po_released(event_id="fix-1", source="MES-NORTH"))
    client.post(
        reverse("case-resubmit", args=[case.pk]), {"rejected": rejected_id, "body": body, "reason": "qty"}
    )
    resubmission = Resubmission.objects.get()
    assert (resubmission.original_id, resubmission.created_by) == (rejected_id, handler)
    assert case.entries.first().action == "resubmitted"


def test_the_navigation_counts_the_cases_needing_work_in_the_users_scope(
    client, north_handler, handler, two_plants
):
    login(client, north_handler)
    assert re.search(r"Exceptions <span class=\"nav-count\"[^>]*>1</span>", client.get("/").content.decode())
    client.logout()
    login(client, handler)
    assert re.search(r"Exceptions <span class=\"nav-count\"[^>]*>2</span>", client.get("/").content.decode())
