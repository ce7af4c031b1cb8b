"""Keyboard work on the exception queue in a real browser against the real ASGI server: a
handler moves with j/k, assigns with a, snoozes with s, and resolves with e (giving the reason)
without touching the mouse; ? shows the keys. The queue page sends no inline script (CSP)."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from exceptions.models import Case, CaseEntry
from tests.browser.test_dead_letters_page import sign_in
from tests.exceptions.test_api import made_cases

pytestmark = pytest.mark.browser


def test_a_handler_works_a_case_from_the_keyboard_to_resolved(page, asgi_server, make_user, plants):
    from playwright.sync_api import expect

    hanna = make_user("hanna", Role.EXCEPTION_HANDLER)
    first, second = made_cases(2, plant=plants["north"], severity=Case.Severity.HIGH)
    console_errors: list[str] = []
    page.on(
        "console", lambda message: console_errors.append(message.text) if message.type == "error" else None
    )
    sign_in(page, asgi_server, "hanna")
    page.goto(f"{asgi_server}/exceptions/?sort=age")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    expect(page.locator("#queue-keys-hint")).to_be_visible()  # shown by the script: it runs

    page.keyboard.press("?")
    expect(page.locator("#queue-keys-help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#queue-keys-help")).to_be_hidden()

    rows = page.locator("#case-table .case-row")
    page.keyboard.press("j")  # the oldest first: `first`
    expect(rows.nth(0)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_attribute("aria-selected", "true")
    assert rows.nth(0).get_attribute("data-case") == str(first.pk)

    page.keyboard.press("a")
    expect(page.locator("#queue-keys-status")).to_have_text(f"Case {first.pk} assigned to you.")
    expect(rows.nth(0)).to_contain_text("hanna")  # the queue shows it, selection kept
    expect(rows.nth(0)).to_have_attribute("aria-selected", "true")

    page.keyboard.press("r")  # not a dead letter: said so, nothing done
    expect(page.locator("#queue-keys-status")).to_have_text(
        "Only a dead-letter case has deliveries to retry."
    )

    page.keyboard.press("e")
    dialog = page.locator("#queue-keys-resolve")
    expect(dialog).to_be_visible()
    expect(page.locator("#keys-resolve-reason")).to_be_focused()
    page.keyboard.press("Tab")  # to the comment, keeping the first reason: fixed at the source
    page.keyboard.type("MES fixed the quantity")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#queue-keys-status")).to_have_text(f"Case {first.pk} resolved.")
    expect(page.locator(f'.case-row[data-case="{first.pk}"]')).to_have_count(0)  # no longer needs work

    page.keyboard.press("j")
    expect(page.locator(f'.case-row[data-case="{second.pk}"]')).to_have_attribute("aria-selected", "true")
    page.keyboard.press("s")
    expect(page.locator("#queue-keys-snooze")).to_be_visible()
    page.keyboard.press("Enter")  # the first choice: an hour
    expect(page.locator("#queue-keys-status")).to_have_text(f"Case {second.pk} snoozed.")

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.assignee, first.reason_code) == ("resolved", hanna, "fixed_at_source")
    assert first.reason_comment == "MES fixed the quantity"
    assert list(
        CaseEntry.objects.filter(case=first, actor=hanna).order_by("at").values_list("action", flat=True)
    ) == [
        "assigned",
        "resolved",
    ]
    assert second.state == "snoozed"
    assert not [error for error in console_errors if "Content Security Policy" in error], console_errors


def test_a_lost_race_is_told_on_the_queue(page, asgi_server, make_user, plants):
    from playwright.sync_api import expect

    from exceptions.services import case_acknowledge

    make_user("hanna", Role.EXCEPTION_HANDLER)
    rival = make_user("rita", Role.EXCEPTION_HANDLER)
    (case,) = made_cases(1, plant=plants["north"])
    sign_in(page, asgi_server, "hanna")
    page.goto(f"{asgi_server}/exceptions/?state=")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    page.keyboard.press("j")
    version_seen = page.locator(".case-row").first.get_attribute("data-version")
    case_acknowledge(case_id=case.pk, user=rival)
    expect(page.locator(".case-row").first).to_contain_text("Acknowledged")  # pushed live
    # As if hanna pressed `a` just before that push arrived: her row still said the old version.
    page.evaluate("(v) => { document.querySelector('.case-row').dataset.version = v; }", version_seen)
    page.keyboard.press("a")
    expect(page.locator("#queue-keys-status")).to_contain_text("changed meanwhile (rita: acknowledged)")
    case.refresh_from_db()
    assert case.assignee is None
