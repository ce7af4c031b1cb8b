"""A live page outlives its connection: cut, it says so; restored, it shows what changed meanwhile."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from controltower.accounts.roles import Role
from controltower.health.services import heartbeat_record
from tests.browser.test_shell import sign_in
from tests.conftest import start_asgi_server

pytestmark = pytest.mark.browser


def test_a_cut_websocket_restored_shows_the_change_made_meanwhile(
    page, transactional_db, make_user, tmp_path
):
    make_user("rita", Role.VIEWER)
    server, base_url = start_asgi_server(tmp_path)
    port = int(base_url.rsplit(":", 1)[1])
    try:
        sign_in(page, base_url, "rita")
        page.wait_for_selector("#status-panel")
        page.wait_for_selector("#live-state[data-state=open]", timeout=15_000)
        assert "came-back-while-away@host" not in page.inner_text("#status-panel")

        server.stop()  # the connection is cut: the page must say it may be stale
        page.wait_for_selector("#live-state[data-state=closed]", timeout=15_000)
        assert page.inner_text("#live-state") == "reconnecting…"
        # A change made while no server holds the page's socket: nobody is there to push it.
        heartbeat_record(queue="ingest", hostname="came-back-while-away@host")

        server, _ = start_asgi_server(tmp_path, port=port)
        page.wait_for_selector("#live-state[data-state=open]", timeout=45_000)
        # Reconnecting refreshes every live section the page holds: the change shows, no reload.
        expect(page.locator("#status-panel")).to_contain_text("came-back-while-away@host", timeout=10_000)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    finally:
        server.stop()
