"""A trace page in a real browser: times in the browser's own time zone, and why the state is."""

from __future__ import annotations

import pytest
from django.test import Client

from controltower.accounts.roles import Role
from controltower.traces.models import Trace
from controltower.traces.services import correlate_events
from integrations.models import Event
from tests.conftest import PASSWORD
from tests.factories import po_released, post_events

pytestmark = pytest.mark.browser


def test_a_browser_in_tokyo_sees_the_trace_in_tokyo_time_and_the_api_in_utc(
    page, asgi_server, make_user, network
):
    answer = post_events(Client(), network["erp"], po_released("4500077001", event_id="tz-1"))
    assert answer.status_code in (200, 201, 202), answer.content
    correlate_events(event_ids=list(Event.objects.values_list("pk", flat=True)))
    trace = Trace.objects.get(root__key="4500077001")
    make_user("kenji", Role.VIEWER)

    # A browser whose clock runs in Tokyo: the page's own script tells the server so.
    tokyo = page.context.browser.new_context(
        timezone_id="Asia/Tokyo", viewport={"width": 1366, "height": 900}
    )
    try:
        tab = tokyo.new_page()
        tab.goto(f"{asgi_server}/accounts/login/")
        tab.fill("#id_username", "kenji")
        tab.fill("#id_password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{asgi_server}/")
        tab.goto(f"{asgi_server}/traces/{trace.pk}/")
        # 2026-11-27T08:15:00Z is 17:15 in Tokyo (UTC+9).
        facts = tab.locator("#trace-reason + dl, .facts").first.inner_text()
        assert "2026-11-27 17:15:00 JST" in facts
        assert "Business time (Asia/Tokyo)" in tab.locator("#trace-timeline thead").inner_text()
        assert tab.locator("#trace-state").inner_text() in {"On track", "Late", "At risk"}
        assert "Supplier confirmed due" in tab.locator("#trace-reason").inner_text()

        api = tab.request.get(f"{asgi_server}/api/v1/traces/{trace.pk}").json()
        assert api["first_event_at"] == "2026-11-27T08:15:00Z"
    finally:
        tokyo.close()
