"""Personal API tokens: hashed, scoped like their user, revocable, expiring."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from controltower.accounts.models import PersonalToken
from controltower.accounts.roles import Role
from controltower.accounts.services import personal_token_create, personal_token_revoke
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_command_prints_only_the_token_and_stores_only_its_hash(viewer):
    out = StringIO()
    call_command("create_user_token", viewer.username, stdout=out)
    token = out.getvalue().strip()
    assert token.startswith("ctu_") and "\n" not in token and len(token) > 40
    record = PersonalToken.objects.get(user=viewer)
    assert token not in {record.digest, record.display_prefix}
    assert record.expires_at is not None


def test_token_acts_with_its_users_role_and_scope(client, make_user, plants):
    user = make_user("south-bot", Role.VIEWER, everything=False, plants=[plants["south"]])
    _, token = personal_token_create(user=user, name="script")
    me = client.get("/api/v1/me", headers=bearer(token)).json()
    assert me["username"] == "south-bot" and me["roles"] == ["viewer"] and me["plants"] == ["P-SOUTH"]
    codes = [p["code"] for p in client.get("/api/v1/plants", headers=bearer(token)).json()["results"]]
    assert codes == ["P-SOUTH"]


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown", "malformed"])
def test_unusable_tokens_are_refused_with_a_problem(client, viewer, state):
    record, token = personal_token_create(user=viewer, name="x")
    if state == "revoked":
        assert personal_token_revoke(token=record) is True
        assert personal_token_revoke(token=record) is False
    elif state == "expired":
        PersonalToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "unknown":
        token = token[:-4] + "abcd"
    else:
        token = "not a token"
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_cannot_mint_more_tokens(client, viewer):
    _, token = personal_token_create(user=viewer, name="x")
    response = client.post(
        "/api/v1/tokens", {"name": "more"}, content_type="application/json", headers=bearer(token)
    )
    assert response.status_code in (401, 403)
    assert PersonalToken.objects.filter(user=viewer).count() == 1


def test_signed_in_user_creates_lists_and_revokes_tokens(client, viewer, operator):
    client.login(username=viewer.username, password=PASSWORD)
    created = client.post(
        "/api/v1/tokens", {"name": "ci", "expires_days": 0}, content_type="application/json"
    )
    assert created.status_code == 201
    body = created.json()
    assert body["record"]["expires_at"] is None
    assert client.get("/api/v1/me", headers=bearer(body["token"])).status_code == 200
    listed = client.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]

    _, others = personal_token_create(user=operator, name="theirs")
    other_id = PersonalToken.objects.get(user=operator).pk
    assert client.delete(f"/api/v1/tokens/{other_id}").status_code == 404

    assert client.delete(f"/api/v1/tokens/{body['record']['id']}").status_code == 204
    assert client.get("/api/v1/me", headers=bearer(body["token"])).status_code == 401


def test_bad_token_request_names_the_field(client, viewer):
    client.login(username=viewer.username, password=PASSWORD)
    response = client.post("/api/v1/tokens", {"expires_days": -1}, content_type="application/json")
    assert response.status_code == 400
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert pointers == {"/name", "/expires_days"}


def test_tokens_page_shows_a_new_token_once(client, viewer):
    client.login(username=viewer.username, password=PASSWORD)
    page = client.post("/account/tokens/", {"name": "laptop", "expires_days": "30"}).content.decode()
    record = PersonalToken.objects.get(user=viewer)
    assert record.display_prefix in page and 'id="new-token"' in page
    again = client.get("/account/tokens/").content.decode()
    assert 'id="new-token"' not in again and "laptop" in again
