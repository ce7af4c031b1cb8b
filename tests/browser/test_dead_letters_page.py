"""Dead letters in a real browser: an operator filters, previews the retry of all that match,
starts it, and watches the job's progress bar fill as a real worker retries them."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from controltower.accounts.roles import Role
from integrations.delivery.models import Delivery, Subscription, Target
from integrations.delivery.services.delivering import delivery_attempt
from tests.conftest import PASSWORD, wait_for
from tests.factories import po_released, post_events

pytestmark = pytest.mark.browser

REFUSING = "http://127.0.0.1:9/orders"  # connection refused: with one attempt allowed, a dead letter


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def test_operator_retries_the_filtered_dead_letters_and_watches_the_job(
    page, asgi_server, celery_worker_process, make_user, network
):
    from playwright.sync_api import expect

    for code in ("erp-post", "tms-feed"):
        target = Target.objects.create(
            code=code, name=code.upper(), url=REFUSING, max_attempts=1, circuit_threshold=10_000
        )
        Subscription.objects.create(name=code, target=target, event_types=["purchase_order.released"])
    events = [po_released(f"45000{i:05d}", event_id=f"po-{i}") for i in range(4)]
    answer = post_events(Client(), network["erp"], events, content_type="application/cloudevents-batch+json")
    assert answer.status_code in (200, 201, 202, 207), answer.content
    # The worker attempts them as they are routed; attempting here too only makes it sooner
    # (a delivery is leased to one sender at a time).
    for pk in Delivery.objects.values_list("pk", flat=True):
        delivery_attempt(delivery_id=pk)
    wait_for(
        lambda: Delivery.objects.filter(status="dead_lettered").count() == 8,
        timeout=30,
        what="eight dead letters",
    )
    make_user("olga", Role.OPERATOR)

    sign_in(page, asgi_server, "olga")
    page.goto(f"{asgi_server}/dead-letters/")
    rows = page.locator("#dead-letters-table .dead-letter-row")
    expect(rows).to_have_count(8)

    page.select_option("#f-target", "erp-post")  # htmx swaps the results in and pushes the URL
    expect(rows).to_have_count(4)
    assert "target=erp-post" in page.url

    page.click("#preview-retry")
    expect(page.locator("#preview-count")).to_contain_text(
        "4 dead letters match (all of them, not just this page)"
    )
    page.fill("#retry-panel-reason", "ERP port reopened after the outage")
    page.click("#retry-panel-start button[type=submit]")

    page.wait_for_url(re.compile(r"/replays/\d+/$"))
    expect(page.locator("#replay-progress [role=progressbar]")).to_be_visible()
    expect(page.locator("#replay-reason")).to_have_text("ERP port reopened after the outage")
    # The progress section is pushed over the live socket (no polling): the worker retries each
    # (refused again), the job ends, and its verification reports all four still failing.
    expect(page.locator("#replay-counts")).to_contain_text("4 failed", timeout=30_000)
    expect(page.locator("#replay-verification")).to_contain_text("4 still failing", timeout=30_000)
    expect(page.locator("#replay-progress")).not_to_have_attribute("hx-trigger", re.compile("every"))
    expect(page.locator("#still-failing li")).to_have_count(4)
    assert Delivery.objects.filter(target__code="tms-feed", job__isnull=True).count() == 4  # untouched
