"""The network's live pages in a real browser: a paused target's backlog counting up as events
arrive through the real API, and a resubmission's outcome appearing without a reload — both
with a real Celery worker doing the work."""

from __future__ import annotations

import re

import httpx
import pytest
from django.test import Client

from controltower.accounts.roles import Role
from integrations.delivery.models import Delivery, Resubmission, Subscription, Target
from integrations.models import RejectedMessage
from tests.conftest import PASSWORD, start_celery_worker, wait_for
from tests.factories import po_released, post_events

pytestmark = pytest.mark.browser


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def mark_page(page) -> None:
    """A flag on this very document: still there later means the page was never reloaded."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def wait_live(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#live-state")).to_have_attribute("data-state", "open", timeout=15_000)


def test_a_paused_targets_backlog_counts_up_live_as_events_arrive(
    page, asgi_server, celery_worker_process, make_user, network
):
    from playwright.sync_api import expect

    target = Target.objects.create(code="erp-post", name="ERP orders", url="http://127.0.0.1:9/orders")
    Subscription.objects.create(name="orders", target=target, event_types=["purchase_order.released"])
    make_user("olga", Role.OPERATOR)

    sign_in(page, asgi_server, "olga")
    page.goto(f"{asgi_server}/targets/")
    page.fill(f"#pause-{target.pk}", "ERP maintenance 22:00-02:00")
    page.click("#target-erp-post button.danger")
    expect(page.locator("#target-erp-post")).to_contain_text("paused")
    backlog = page.locator("#backlog-erp-post")
    expect(backlog).to_have_text("0")
    wait_live(page)
    mark_page(page)

    with httpx.Client(base_url=asgi_server, headers=network["erp"].headers, timeout=10) as api:
        for number in range(1, 4):
            answer = api.post(
                "/api/v1/events",
                json=po_released(f"45000{number:05d}"),
                headers={"Content-Type": "application/cloudevents+json"},
            )
            assert answer.status_code == 202, answer.text
            expect(backlog).to_have_text(str(number), timeout=10_000)
    assert not_reloaded(page)
    # The worker received them and parked them: nothing was sent to the paused target.
    wait_for(
        lambda: Delivery.objects.filter(target=target, status=Delivery.Status.PAUSED).count() == 3,
        timeout=30,
        what="the worker to park three deliveries",
    )
    assert not Delivery.objects.filter(target=target, attempts__gt=0).exists()


def test_a_resubmissions_outcome_appears_without_reload(page, asgi_server, tmp_path, make_user, network):
    from playwright.sync_api import expect

    from controltower.celery import app

    app.control.purge()  # no earlier test's task may reach the worker started below
    refused = post_events(Client(), network["mes_north"], po_released(source="MES-NORTH", plant="P-ATLANTIS"))
    assert refused.status_code == 400
    rejected = RejectedMessage.objects.get(pk=refused.json()["rejected_message"])
    make_user("olga", Role.OPERATOR)

    sign_in(page, asgi_server, "olga")
    page.goto(f"{asgi_server}/rejected/{rejected.pk}/")
    body = page.locator("#resubmit-body")
    body.fill(body.input_value().replace("P-ATLANTIS", "P-NORTH"))
    page.fill("#resubmit-reason", "plant code corrected")
    page.click("#resubmit button[type=submit]")
    page.wait_for_url(re.compile(rf"/rejected/{rejected.pk}/$"))
    row = page.locator("#resubmissions .resubmission-row")
    expect(row).to_contain_text("Queued")  # no worker yet: it waits in the broker
    expect(row).to_contain_text("waiting for the intake worker")
    wait_live(page)
    mark_page(page)

    worker = start_celery_worker(tmp_path, purge=False)  # a real worker takes the resubmission
    try:
        expect(row).to_contain_text("Accepted", timeout=30_000)
        expect(row).to_contain_text("MES-NORTH#")
    finally:
        worker.stop()
    assert not_reloaded(page)
    assert Resubmission.objects.get().state == Resubmission.State.ACCEPTED
