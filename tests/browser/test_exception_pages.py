"""Exception queues in a real browser: a malformed event posted to the API becomes a case that
appears in the open queue without a reload (through the real rules task in a Celery worker and
the live hub of the real ASGI server), and a handler works it to resolved."""

from __future__ import annotations

import json

import httpx
import pytest

from controltower.accounts.roles import Role
from controltower.changes import Kind, announce
from integrations.models import RejectedMessage
from tests.browser.test_dead_letters_page import sign_in
from tests.exceptions.conftest import broken_po

pytestmark = pytest.mark.browser


def test_a_refused_event_appears_in_the_queue_live_and_is_worked_to_resolved(
    page, asgi_server, celery_worker_process, make_user, network
):
    from playwright.sync_api import expect

    make_user("hanna", Role.EXCEPTION_HANDLER)
    sign_in(page, asgi_server, "hanna")
    page.goto(f"{asgi_server}/exceptions/?queue=unassigned")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    expect(page.locator(".case-row")).to_have_count(0)

    sender = network["mes_north"]
    answer = httpx.post(
        f"{asgi_server}/api/v1/events",
        content=json.dumps(broken_po(event_id="live-1", source=sender.system.code)),
        headers={**sender.headers, "Content-Type": "application/cloudevents+json"},
        timeout=30,
    )
    assert answer.status_code == 400
    rejected = RejectedMessage.objects.get(event_id="live-1")
    # Intake announces this itself once the change boundary reaches it (a parallel branch); until
    # then the test says it, as intake will. Announcing twice is harmless.
    announce(Kind.MESSAGE_REJECTED, rejected.pk, plant_ids=rejected.plant_id)

    row = page.locator(".case-row")
    expect(row).to_have_count(1, timeout=30_000)  # no reload: the queue section was pushed
    expect(row).to_contain_text("MES-NORTH sends purchase_order.released we refuse")

    row.locator("a").click()
    expect(page.locator("#case-sentence")).to_contain_text("lines/0/quantity")
    page.click("#assign-me")
    expect(page.locator("#case-owner")).to_contain_text("hanna")
    page.click("#acknowledge")
    expect(page.locator("#case-state [data-state]")).to_have_attribute("data-state", "acknowledged")
    page.select_option("#resolve-reason", "fixed_at_source")
    page.click("#resolve")
    expect(page.locator("#case-state [data-state]")).to_have_attribute("data-state", "resolved")
    expect(page.locator("#case-history .history-row")).to_have_count(4)
