"""Traces pages that move by themselves, in a real browser: events posted to the real API (over
HTTP, with a source system's token) are correlated by a real Celery worker, and the open traces
list and trace page show the result without a reload."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from controltower.accounts.roles import Role
from controltower.traces.models import Trace
from tests.browser.test_dead_letters_page import sign_in
from tests.conftest import wait_for
from tests.traces.conftest import cloudevent, example

pytestmark = pytest.mark.browser

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def post(base_url: str, sender, type_: str, data: dict, *, source: str, minutes: int = 0) -> None:
    """POST one CloudEvent to the server's API as `sender` (its bearer token), expecting 202."""
    time = (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    body = json.dumps(cloudevent(type_, data, source=source, time=time)).encode()
    request = urllib.request.Request(
        f"{base_url}/api/v1/events",
        data=body,
        method="POST",
        headers={**sender.headers, "Content-Type": "application/cloudevents+json"},
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        assert answer.status in (200, 201, 202), answer.read()


def release(base_url: str, network, po: str) -> Trace:
    data = example("purchase_order.released", po_number=po, plant="P-NORTH", supplier="S-ACME")
    post(base_url, network["erp"], "purchase_order.released", data, source="ERP-CLOUD")
    return wait_for(
        lambda: Trace.objects.filter(root__key=po).first(), timeout=30, what=f"the worker to trace PO {po}"
    )


def test_a_new_trace_appears_in_the_open_list_as_a_bar_and_in_the_counts(
    page, asgi_server, celery_worker_process, make_user, network
):
    from playwright.sync_api import expect

    first = release(asgi_server, network, "4500081001")
    make_user("olga", Role.OPERATOR)
    sign_in(page, asgi_server, "olga")
    page.goto(f"{asgi_server}/traces/")
    expect(page.locator("#live-state")).to_have_text("live")
    assert re.search(rf"[?&]upto={first.pk}\b", page.url)  # the list says what it shows
    rows = page.locator("#traces-table .trace-row")
    expect(rows).to_have_count(1)
    on_track = page.locator('#traces-counts [data-state="on_track"] strong')
    expect(on_track).to_have_text("1")
    expect(page.locator("#traces-new")).to_be_hidden()

    release(asgi_server, network, "4500081002")
    expect(page.locator("#traces-new")).to_have_text("1 new trace — show", timeout=15_000)
    expect(on_track).to_have_text("2")
    expect(rows).to_have_count(1)  # no row slips in under the reader

    page.click("#traces-new a")
    expect(rows).to_have_count(2)
    expect(page.locator("#traces-new")).to_be_hidden()
    expect(page.locator("#traces-table")).to_contain_text("4500081002")


def test_a_trace_page_shows_a_milestone_posted_through_the_api(
    page, asgi_server, celery_worker_process, make_user, network
):
    from playwright.sync_api import expect

    trace = release(asgi_server, network, "4500082001")
    make_user("stuttgart-olga", Role.OPERATOR, everything=False, plants=[trace.plant])
    sign_in(page, asgi_server, "stuttgart-olga")
    page.goto(f"{asgi_server}/traces/{trace.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    confirmed = page.locator("#trace-milestones .milestone-row", has_text="confirmed")
    expect(confirmed).to_contain_text("Pending")
    expect(page.locator("#trace-timeline .timeline-row")).to_have_count(1)
    page.evaluate("document.title = 'not reloaded'")  # a reload would bring the real title back
    page.locator("#trace-timeline .timeline-row details summary").first.click()  # reading a payload

    data = example("supplier.confirmation", po_number="4500082001")
    post(asgi_server, network["acme"], "supplier.confirmation", data, source="PORTAL-ACME", minutes=30)

    expect(confirmed).to_contain_text("Done", timeout=20_000)
    expect(page.locator("#trace-timeline .timeline-row")).to_have_count(2)
    expect(page.locator("#trace-timeline")).to_contain_text("supplier.confirmation")
    expect(page.locator("#trace-timeline details[open]")).to_have_count(1)  # still open, still read
    assert page.title() == "not reloaded"
