"""The request edge in a real browser: a 503 page while the database is unreachable, a 400
page for input no database can hold — both in the site layout."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from tests.browser.test_shell import sign_in
from tests.conftest import free_port, start_asgi_server

pytestmark = pytest.mark.browser


def test_a_page_is_a_styled_503_while_the_database_is_unreachable(page, tmp_path):
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/controltower"
    server, base_url = start_asgi_server(tmp_path, DATABASE_URL=unreachable, DEBUG="0")
    try:
        # A session cookie makes the request look the visitor up: in the database that is down.
        page.context.add_cookies([{"name": "sessionid", "value": "a" * 32, "url": base_url}])
        response = page.goto(f"{base_url}/traces/")
        assert response.status == 503 and response.headers["retry-after"] == "5"
        assert page.locator("h1").inner_text() == "Temporarily unavailable"
        assert page.locator("header.topbar .brand").is_visible()  # the layout, with its stylesheet
        assert page.locator("header.topbar").evaluate("e => getComputedStyle(e).display") != "inline"
        page.screenshot(path=tmp_path / "unavailable.png")
    finally:
        server.stop()


def test_a_nul_in_a_filter_is_a_400_page_showing_it_in_the_layout(page, asgi_server, make_user):
    make_user("ada", Role.ADMIN)
    sign_in(page, asgi_server, "ada")
    page.wait_for_selector("header nav")
    response = page.goto(f"{asgi_server}/deliveries/?target=erp%00&status=dead_lettered")
    assert response.status == 400
    assert "erp\u2400" in page.locator("main").inner_text()
    page.click("text=Try again without it")
    page.wait_for_url("**/deliveries/?status=dead_lettered")
