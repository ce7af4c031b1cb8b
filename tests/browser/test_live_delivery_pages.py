"""Delivery pages update themselves in a real browser: a dead letter retried by an operator
changes status in another viewer's open list and page, and a bulk retry's progress bar and item
table advance to done — all without a reload, through a real Celery worker delivering over HTTP
to a real receiver."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from controltower.accounts.roles import Role
from integrations.delivery.models import Delivery, Subscription, Target
from integrations.delivery.services.delivering import delivery_attempt
from tests.browser.test_dead_letters_page import REFUSING, sign_in
from tests.conftest import wait_for
from tests.controltower.test_delivery_pages import receiver  # noqa: F401 — a fixture
from tests.factories import po_released, post_events

pytestmark = pytest.mark.browser


def dead_letters_to(network, code: str, count: int) -> list[Delivery]:
    """`count` real dead letters to a target that refuses the connection (one attempt allowed)."""
    target = Target.objects.create(
        code=code, name=code.upper(), url=REFUSING, max_attempts=1, circuit_threshold=10_000
    )
    Subscription.objects.create(name=code, target=target, event_types=["purchase_order.released"])
    events = [po_released(f"45100{i:05d}", event_id=f"{code}-{i}") for i in range(count)]
    answer = post_events(Client(), network["erp"], events, content_type="application/cloudevents-batch+json")
    assert answer.status_code in (200, 201, 202, 207), answer.content
    for pk in Delivery.objects.filter(target=target).values_list("pk", flat=True):
        delivery_attempt(delivery_id=pk)  # the worker may have been first: a lease lets one send
    wait_for(
        lambda: Delivery.objects.filter(target=target, status="dead_lettered").count() == count,
        timeout=30,
        what=f"{count} dead letters",
    )
    return list(Delivery.objects.filter(target=target).order_by("id"))


def never_reloaded(page) -> None:
    """Mark the document: a reload or a navigation would lose the mark."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def test_a_dead_letter_retried_by_an_operator_changes_status_live_in_an_open_list_and_page(
    page,
    asgi_server,
    celery_worker_process,
    make_user,
    network,
    receiver,  # noqa: F811 — the fixture imported above
):
    from playwright.sync_api import expect

    dead, other = dead_letters_to(network, "erp-post", 2)
    make_user("vera", Role.VIEWER)
    make_user("olga", Role.OPERATOR)

    sign_in(page, asgi_server, "vera")
    page.goto(f"{asgi_server}/dead-letters/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    row = page.locator(f'#dead-letters-table tr[data-delivery="{dead.pk}"]')
    expect(row.locator("td.status")).to_have_text("Dead-lettered")
    expect(page.locator("#dead-letters-count")).to_contain_text("2 dead letters")
    never_reloaded(page)
    # A second tab on the same delivery's page.
    detail = page.context.new_page()
    detail.goto(f"{asgi_server}/deliveries/{dead.pk}/")
    expect(detail.locator("#live-state")).to_have_attribute("data-state", "open")
    never_reloaded(detail)

    # The ERP's endpoint is fixed; an operator, in another browser, retries the dead letter.
    Target.objects.filter(code="erp-post").update(url=receiver)
    operator = page.context.browser.new_context().new_page()
    sign_in(operator, asgi_server, "olga")
    operator.goto(f"{asgi_server}/deliveries/{dead.pk}/")
    operator.fill("#retry-reason", "ERP endpoint fixed")
    operator.click("#delivery-retry button[type=submit]")
    operator.wait_for_url(re.compile(r"/replays/\d+/$"), timeout=60_000)  # a slow machine under SQLite

    # The worker runs the job and delivers it: the open list shows it in place, then the page.
    expect(row.locator("td.status")).to_contain_text("Delivered", timeout=30_000)
    expect(row.locator("td.status")).to_contain_text("retried")
    expect(page.locator("#dead-letters-count")).to_contain_text("1 dead letter ")
    expect(page.locator(f'#dead-letters-table tr[data-delivery="{other.pk}"] td.status')).to_have_text(
        "Dead-lettered"
    )
    assert_not_reloaded(page)
    expect(detail.locator("#delivery-facts .state").first).to_have_text("Delivered", timeout=30_000)
    expect(detail.locator("#delivery-attempts .attempt-row")).to_have_count(2)
    expect(detail.locator("#delivery-jobs .job-row")).to_have_count(1)
    assert_not_reloaded(detail)


def test_a_bulk_retrys_progress_bar_and_item_table_advance_to_done_without_reload(
    page,
    asgi_server,
    celery_worker_process,
    make_user,
    network,
    receiver,  # noqa: F811 — the fixture imported above
):
    from playwright.sync_api import expect

    count = 6
    dead_letters_to(network, "erp-post", count)
    Target.objects.filter(code="erp-post").update(url=receiver)  # fixed before the retry
    make_user("olga", Role.OPERATOR)

    sign_in(page, asgi_server, "olga")
    page.goto(f"{asgi_server}/dead-letters/")
    page.click("#preview-retry")
    expect(page.locator("#preview-count")).to_contain_text(f"{count} dead letters match")
    page.fill("#retry-panel-reason", "ERP endpoint fixed")
    page.click("#retry-panel-start button[type=submit]")
    page.wait_for_url(re.compile(r"/replays/\d+/$"))
    never_reloaded(page)

    bar = page.locator("#replay-progress [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuemax", str(count))
    expect(page.locator("#replay-progress")).not_to_have_attribute("hx-trigger", re.compile("every"))
    expect(bar).to_have_attribute("aria-valuenow", str(count), timeout=30_000)
    expect(page.locator("#replay-counts")).to_contain_text(f"{count} done")
    items = page.locator("#replay-item-table .item-row")
    expect(items).to_have_count(count)
    for index in range(count):
        expect(items.nth(index)).to_contain_text("Delivered")
    expect(page.locator("#replay-verification")).to_contain_text("none still failing", timeout=30_000)
    assert_not_reloaded(page)
    assert Delivery.objects.filter(status="delivered").count() == count


def test_new_deliveries_are_counted_in_a_bar_not_pushed_under_the_reader(
    page, asgi_server, make_user, network
):
    from playwright.sync_api import expect

    dead_letters_to(network, "erp-post", 2)
    make_user("vera", Role.VIEWER)
    sign_in(page, asgi_server, "vera")
    page.goto(f"{asgi_server}/deliveries/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    rows = page.locator("#deliveries-table .delivery-row")
    expect(rows).to_have_count(2)
    first = rows.first.get_attribute("data-delivery")
    expect(page.locator('#deliveries-counts [data-status="dead_lettered"]')).to_contain_text("2")
    never_reloaded(page)

    answer = post_events(Client(), network["erp"], po_released("4510099999", event_id="late-1"))
    assert answer.status_code == 202, answer.content
    expect(page.locator(".new-rows")).to_have_text("1 new delivery — show", timeout=20_000)
    expect(rows).to_have_count(2)  # nothing moved under the reader ...
    assert rows.first.get_attribute("data-delivery") == first
    assert page.url == f"{asgi_server}/deliveries/"  # ... and the anchor is not in the address bar
    expect(page.locator("#deliveries-counts a").first).to_contain_text("3")  # the counts are live

    page.click(".new-rows a")
    expect(rows).to_have_count(3)
    expect(page.locator(".new-rows")).to_have_count(0)
    assert rows.first.get_attribute("data-delivery") != first
    assert_not_reloaded(page)


def test_a_render_for_the_page_before_a_filter_change_does_not_undo_it(page, asgi_server, make_user, network):
    """A render on its way when the reader changes a filter was made for the page they left:
    the page drops it (it names the page it was rendered for), and takes the current one."""
    from playwright.sync_api import expect

    dead_letters_to(network, "erp-post", 2)
    make_user("vera", Role.VIEWER)
    sign_in(page, asgi_server, "vera")
    page.goto(f"{asgi_server}/dead-letters/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    before = page.get_attribute("#dead-letters-table", "data-live-page")
    page.select_option("#f-target", "erp-post")
    expect(page.locator("#dead-letters-table")).not_to_have_attribute("data-live-page", before)
    current = page.get_attribute("#dead-letters-table", "data-live-page")

    def arrives(rendered_for: str) -> bool:
        """Whether the page would swap in a live render made for `rendered_for`."""
        return not page.evaluate(
            """(renderedFor) => {
                const section = document.createElement("section");
                section.setAttribute("data-live-for", renderedFor);
                const event = new CustomEvent("htmx:wsBeforeMessage", {
                    bubbles: true, cancelable: true, detail: {message: section.outerHTML}});
                document.querySelector("main").dispatchEvent(event);
                return event.defaultPrevented;
            }""",
            rendered_for,
        )

    assert not arrives(before)
    assert arrives(current)
