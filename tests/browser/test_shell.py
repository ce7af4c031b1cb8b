"""The UI shell in a real browser: sign in, navigation by role, the live websocket."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from django.conf import settings

from controltower.accounts.roles import Role
from tests.conftest import PASSWORD, start_asgi_server

pytestmark = pytest.mark.browser


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_viewer_signs_in_and_sees_the_shell_with_a_live_connection(page, asgi_server, make_user, plants):
    make_user("wanda", Role.VIEWER, everything=False, plants=[plants["north"]])
    with page.expect_websocket(predicate=lambda ws: "/ws/live/?page=" in ws.url) as ws_info:
        sign_in(page, asgi_server, "wanda")
    page.wait_for_selector("#status-panel")
    websocket = ws_info.value

    nav = page.locator("header nav a").all_inner_texts()
    assert nav == [
        "Overview",
        "Exceptions 0",  # the cases needing work in her scope
        "Traces",
        "Deliveries",
        "Dead letters",
        "Replays",
        "Rejected",
        "Systems",
        "Targets",
        "Contracts",
        "Plants & suppliers",
        "API docs",
    ]  # no Admin
    assert page.locator("#status-panel").get_by_text("database").is_visible()
    assert "1 plant, 0 suppliers" in page.inner_text("main")
    # htmx and its websocket extension were served from our own static files
    assert page.evaluate("typeof htmx") == "object"

    # The badge turns live once the server accepted the socket, i.e. after the consumer joined
    # its groups: a change announced from now on must reach this page.
    page.wait_for_selector("#live-state[data-state=open]", timeout=10_000)
    assert page.inner_text("#live-state") == "live"

    if settings.REDIS_URL:  # with a shared layer, a change in another process reaches the page
        with websocket.expect_event("framereceived", timeout=10_000) as frame:
            # A layer of its own: the test process's shared instance holds connection pools
            # made on earlier tests' event loops, which are closed by now.
            send = async_to_sync(channel_layers.make_backend("default").group_send)
            # Playwright's sync API owns this thread's event loop: send from another thread.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(send, "status", {"type": "status.changed", "id": None}).result()
        assert 'id="status-panel"' in frame.value
    assert not websocket.is_closed()

    page.click("text=Plants & suppliers")
    page.wait_for_selector("#partner-tables")
    assert "P-NORTH" in page.inner_text("#partner-tables")
    assert "P-SOUTH" not in page.inner_text("#partner-tables")


def test_plotly_is_served_locally(page, asgi_server, viewer):
    response = page.request.get(f"{asgi_server}/static/vendor/plotly.min.js")
    assert response.status == 200
    assert len(response.body()) > 1_000_000


def test_wrong_password_is_refused(page, asgi_server, viewer):
    page.goto(f"{asgi_server}/accounts/login/")
    page.fill("#id_username", viewer.username)
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").is_visible()
    assert "/accounts/login/" in page.url


def test_the_live_badge_says_when_the_page_stops_receiving_updates(
    page, transactional_db, tmp_path, make_user, plants
):
    make_user("wanda", Role.VIEWER, everything=False, plants=[plants["north"]])
    server, base_url = start_asgi_server(tmp_path)
    try:
        sign_in(page, base_url, "wanda")
        page.wait_for_selector("#live-state[data-state=open]", timeout=10_000)
    finally:
        server.stop()
    # The server is gone: the badge must not go on claiming the page is live.
    page.wait_for_selector("#live-state[data-state=closed]", timeout=10_000)
    assert page.inner_text("#live-state") == "reconnecting…"
