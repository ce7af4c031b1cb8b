"""Shared API filters: times in any offset Python reads, booleans strictly."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role

pytestmark = pytest.mark.django_db

# PostgreSQL takes UTC offsets up to ±15:59; Python's ISO 8601 parser takes up to ±23:59.
FAR_OFFSET = "2026-11-27T08%3A00%3A00-19%3A00"
BEFORE_YEAR_ONE = "0001-01-01T00%3A00%3A00%2B01%3A00"  # year 0 once in UTC


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("ada", Role.ADMIN))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/deliveries?since={}",
        "/api/v1/deliveries?until={}",
        "/api/v1/events?received_after={}",
        "/api/v1/events?time_before={}",
        "/api/v1/traces?active_after={}",
        "/api/v1/rejected-messages?received_before={}",
        "/deliveries/?since={}",
        "/dead-letters/?until={}",
    ],
)
def test_a_time_with_any_offset_python_reads_is_searched_in_utc_not_a_500(admin_client, url):
    assert admin_client.get(url.format(FAR_OFFSET)).status_code == 200
    refused = admin_client.get(url.format(BEFORE_YEAR_ONE))
    assert refused.status_code in (200, 400)  # pages answer with the form error
    if url.startswith("/api/"):
        name = url.split("?")[1].split("=")[0]
        assert refused.status_code == 400
        assert [e["pointer"] for e in refused.json()["errors"]] == [f"/{name}"]
    else:
        assert "date-time" in refused.content.decode()


@pytest.mark.parametrize("value", ["yes", "null", "2", "True "])
def test_a_boolean_filter_refuses_what_it_cannot_read(admin_client, plants, value):
    response = admin_client.get(f"/api/v1/plants?active={value}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["pointer"] == "/active"


def test_a_boolean_filter_filters(admin_client, plants):
    plants["south"].active = False
    plants["south"].save()
    codes = lambda answer: [p["code"] for p in answer.json()["results"]]  # noqa: E731
    assert codes(admin_client.get("/api/v1/plants?active=false")) == ["P-SOUTH"]
    assert codes(admin_client.get("/api/v1/plants?active=true")) == ["P-NORTH"]
    assert len(codes(admin_client.get("/api/v1/plants"))) == 2
