"""The request edge: a NUL in any parameter is a 400 (problem or page), never a 500; a page
whose database is unreachable answers 503 + Retry-After in the site layout, as the API does."""

from __future__ import annotations

import pytest
from django.db import connection

from controltower.accounts.roles import Role
from tests.conftest import free_port

# Every list API, with one of its filters (those named in issue 9 first).
API_QUERIES = [
    "/api/v1/deliveries?target=%00",
    "/api/v1/deliveries?since=%00",
    "/api/v1/events?source=%00",
    "/api/v1/events?identifier=po%00:1",
    "/api/v1/traces?plant=%00",
    "/api/v1/rejected-messages?system=%00",
    "/api/v1/replays?kind=%00",
    "/api/v1/plants?q=%00",
    "/api/v1/systems?cursor=%00",
    "/api/v1/sandbox/receivers/erp/receipts?event_id=%00",
    "/api/v1/subscriptions?%00=1",
]
# Path parameters that take any text.
API_PATHS = ["/api/v1/plants/%00", "/api/v1/suppliers/S%00", "/api/v1/contracts/po%00"]
PAGES = [
    "/traces/?q=%00",
    "/traces/?plant=%00",
    "/traces/?order=%00",
    "/rejected/?system=%00",
    "/partners/?q=%00",
    "/deliveries/?target=%00",
    "/dead-letters/?target=%00",
    "/replays/?kind=%00",
    "/systems/?kind=%00",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", API_QUERIES + API_PATHS)
def test_a_nul_in_an_api_parameter_is_a_400_problem_naming_it(client, make_user, url):
    client.force_login(make_user("ada", Role.ADMIN))
    response = client.get(url)
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/validation-error"
    name = url.rsplit("?", 1)[1].split("=")[0].replace("%00", "\x00") if "?" in url else None
    pointers = [error["pointer"] for error in problem["errors"]]
    assert pointers == ([f"/{name}"] if name else [pointers[0]]) and "NUL" in problem["errors"][0]["detail"]


@pytest.mark.django_db
def test_a_nul_in_a_path_parameter_names_the_parameter(client, make_user):
    client.force_login(make_user("ada", Role.ADMIN))
    problem = client.get("/api/v1/plants/%00").json()
    assert problem["errors"][0]["pointer"] == "/code"  # plants are found by code


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_a_nul_in_a_page_filter_is_a_400_page_showing_what_was_sent(client, make_user, url):
    client.force_login(make_user("ada", Role.ADMIN))
    response = client.get(url + "&state=late")
    page = response.content.decode()
    assert response.status_code == 400
    assert "This input cannot be used" in page and "NUL" in page
    assert "\u2400" in page  # the value is shown, with the NUL marked
    assert 'aria-label="Main"' in page  # in the site layout, navigation and all
    assert "?state=late" in page  # a way back, keeping the usable filters


@pytest.mark.django_db
def test_a_nul_in_a_page_form_is_a_400_page_and_nothing_is_stored(client, make_user):
    user = make_user("ada", Role.ADMIN)
    client.force_login(user)
    response = client.post("/account/tokens/", {"name": "ci\x00bot"})
    assert response.status_code == 400 and "ci\u2400bot" in response.content.decode()
    assert not user.personal_tokens.exists()


@pytest.mark.django_db
def test_a_subscription_whose_target_holds_a_nul_is_a_400_problem(client, make_user):
    client.force_login(make_user("ada", Role.ADMIN))
    body = {"name": "n", "target": "erp\x00", "event_types": ["purchase_order.released"]}
    response = client.post("/api/v1/subscriptions", body, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "/target"


@pytest.fixture
def database_unreachable(transactional_db):
    """Point the connection at a port where nothing listens (as a PostgreSQL restart would)."""
    saved = {key: connection.settings_dict[key] for key in ("HOST", "PORT")}

    def cut() -> None:
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))

    yield cut
    connection.close()
    connection.settings_dict.update(saved)  # the next query reconnects to the real database


@pytest.mark.parametrize("url", ["/", "/traces/", "/deliveries/", "/account/tokens/"])
def test_a_page_answers_503_in_the_layout_while_the_database_is_unreachable(
    client, make_user, database_unreachable, url
):
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server to be unreachable")
    client.force_login(make_user("ada", Role.ADMIN))
    database_unreachable()
    response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "Temporarily unavailable" in page and 'class="topbar"' in page  # the site layout


def test_the_api_answers_503_problem_while_the_database_is_unreachable(
    client, make_user, database_unreachable
):
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server to be unreachable")
    client.force_login(make_user("ada", Role.ADMIN))
    database_unreachable()
    response = client.get("/api/v1/traces")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["type"] == "/problems/service-unavailable"
