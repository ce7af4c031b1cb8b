"""Roles and scope deny what they should, on pages and on APIs."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from controltower.accounts.access import CanOperate, access_for, require_capability
from controltower.accounts.roles import Capability, Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@require_capability(Capability.OPERATE)
def operator_action(request):
    return HttpResponse("replayed")


class OperatorActionApi(APIView):
    permission_classes = [CanOperate]

    def post(self, request):
        return Response({"status": "started"})


# The real project URLs plus two operator-only actions guarded by the shared helpers.
urlpatterns = [
    path("ops/replay", operator_action),
    path("api/v1/ops/replay", OperatorActionApi.as_view()),
    path("", include("controltower.urls")),
]


def test_roles_grant_capabilities(make_user):
    viewer = make_user("v1", Role.VIEWER)
    handler = make_user("h1", Role.EXCEPTION_HANDLER)
    both = make_user("b1", Role.VIEWER, Role.OPERATOR)
    assert access_for(viewer).capabilities == {Capability.VIEW}
    assert access_for(handler).can(Capability.WORK_EXCEPTIONS)
    assert not access_for(handler).can(Capability.OPERATE)
    assert access_for(both).can(Capability.OPERATE)


def test_user_without_role_sees_no_pages(client, make_user):
    make_user("nobody")
    client.login(username="nobody", password=PASSWORD)
    assert client.get("/").status_code == 403


@pytest.mark.urls(__name__)
def test_viewer_cannot_reach_an_operator_action(client, viewer):
    client.login(username=viewer.username, password=PASSWORD)
    assert client.get("/ops/replay").status_code == 403
    response = client.post("/api/v1/ops/replay")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/forbidden"


@pytest.mark.urls(__name__)
def test_operator_reaches_the_operator_action(client, operator):
    client.login(username=operator.username, password=PASSWORD)
    assert client.get("/ops/replay").content == b"replayed"
    assert client.post("/api/v1/ops/replay").json() == {"status": "started"}


@pytest.mark.urls(__name__)
def test_anonymous_is_sent_to_login_or_told_to_authenticate(client):
    page = client.get("/ops/replay")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    api = client.post("/api/v1/ops/replay")
    assert api.status_code == 401
    assert api["WWW-Authenticate"].startswith("Bearer")
    assert api.json()["type"] == "/problems/not-authenticated"


def test_plant_scoped_user_does_not_see_another_plants_data(client, make_user, plants, suppliers):
    make_user("north-only", Role.VIEWER, everything=False, plants=[plants["north"]])
    client.login(username="north-only", password=PASSWORD)

    listing = client.get("/api/v1/plants").json()
    assert [plant["code"] for plant in listing["results"]] == ["P-NORTH"]
    assert client.get("/api/v1/plants/P-NORTH").status_code == 200
    other = client.get("/api/v1/plants/P-SOUTH")
    assert other.status_code == 404
    assert other["Content-Type"] == "application/problem+json"
    assert client.get("/api/v1/suppliers").json()["results"] == []

    page = client.get("/partners/").content.decode()
    assert "P-NORTH" in page and "P-SOUTH" not in page and "S-ACME" not in page


def test_supplier_scoped_user_sees_only_that_supplier(client, make_user, plants, suppliers):
    make_user("acme-only", Role.VIEWER, everything=False, suppliers=[suppliers["acme"]])
    client.login(username="acme-only", password=PASSWORD)
    assert [s["code"] for s in client.get("/api/v1/suppliers").json()["results"]] == ["S-ACME"]
    assert client.get("/api/v1/plants").json()["results"] == []


def test_unscoped_user_sees_nothing_until_scoped(client, make_user, plants):
    make_user("fresh", Role.VIEWER, everything=False)
    client.login(username="fresh", password=PASSWORD)
    assert client.get("/api/v1/plants").json()["results"] == []


def test_partners_page_answers_htmx_with_the_tables_partial(client, viewer, plants):
    client.login(username=viewer.username, password=PASSWORD)
    full = client.get("/partners/?q=north").content.decode()
    partial = client.get("/partners/?q=north", headers={"HX-Request": "true"}).content.decode()
    assert "<html" in full and "<html" not in partial
    assert 'id="partner-tables"' in partial and "P-NORTH" in partial and "P-SOUTH" not in partial


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/me"),
        ("get", "/api/v1/tokens"),
        ("delete", "/api/v1/tokens/1"),
        ("get", "/api/v1/replays"),
        ("get", "/api/v1/replays/1"),
    ],
)
def test_a_system_token_on_an_api_for_people_is_a_403_problem(client, network, method, url):
    response = getattr(client, method)(url, headers=network["erp"].headers)
    assert response.status_code == 403, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert "system token" in response.json()["detail"]


def test_a_person_still_reads_their_own_record_with_a_personal_token(client, viewer):
    from controltower.accounts.services import personal_token_create

    _, plaintext = personal_token_create(user=viewer, name="script", expires_in=None)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 200 and response.json()["username"] == "vera"
