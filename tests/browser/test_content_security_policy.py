"""The Content-Security-Policy in a real browser: the main pages, their htmx partials, the live
websocket and the API docs run under it without a single violation."""

from __future__ import annotations

import pytest
from django.test import Client

from controltower.accounts.roles import Role
from controltower.traces.models import TraceEvent
from controltower.traces.services import correlate_events
from integrations.delivery.models import Delivery, ReplayJob, Subscription, Target
from integrations.models import Event
from tests.conftest import PASSWORD
from tests.factories import po_released, post_events

pytestmark = pytest.mark.browser

# Every violation the page sees, as the browser reports it to the page itself.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched_page(page):
    """A page that records CSP violations from both the console and the DOM event."""
    console: list[str] = []
    page.on(
        "console",
        lambda message: console.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.add_init_script(COLLECT_VIOLATIONS)

    def violations() -> list[str]:
        return console + page.evaluate("window.__cspViolations || []")

    page.csp_violations = violations
    return page


@pytest.fixture
def demo_data(network, make_user):
    target = Target.objects.create(
        code="erp-post", name="ERP", url="http://127.0.0.1:9/orders", max_attempts=1
    )
    Subscription.objects.create(name="po", target=target, event_types=["purchase_order.released"])
    answer = post_events(Client(), network["erp"], po_released("4500000101", event_id="csp-1"))
    assert answer.status_code < 300, answer.content
    correlate_events(event_ids=list(Event.objects.values_list("id", flat=True)))
    user = make_user("cora", Role.OPERATOR, Role.VIEWER)
    job = ReplayJob.objects.create(kind="retry", filter={"target": "erp-post"}, reason="csp", created_by=user)
    return {
        "trace": TraceEvent.objects.values_list("trace_id", flat=True).first(),
        "delivery": Delivery.objects.get().pk,
        "job": job.pk,
    }


def sign_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", "cora")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def test_the_main_pages_and_the_api_docs_run_without_a_policy_violation(watched_page, asgi_server, demo_data):
    page = watched_page
    sign_in(page, asgi_server)
    # The live badge: the websocket connects under connect-src 'self'.
    page.wait_for_selector("#live-state[data-state=open]", timeout=10_000)
    paths = [
        "/",
        "/traces/",
        f"/traces/{demo_data['trace']}/",
        "/deliveries/",
        f"/deliveries/{demo_data['delivery']}/",
        "/dead-letters/",
        "/replays/",
        f"/replays/{demo_data['job']}/",
        "/rejected/",
        "/systems/",
        "/targets/",
        "/contracts/",
        "/partners/",
        "/account/tokens/",
    ]
    seen = {}
    for path in paths:
        response = page.goto(f"{asgi_server}{path}")
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe" not in policy, policy
        page.wait_for_timeout(150)  # scripts run after load: their violations come late
        seen[path] = page.csp_violations()

    page.goto(f"{asgi_server}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)  # Swagger UI drew the schema
    page.wait_for_selector(".opblock", timeout=15_000)
    seen["/api/docs/"] = page.csp_violations()
    response = page.goto(f"{asgi_server}/api/redoc/")
    page.wait_for_selector("h1:has-text('Manufacturing control tower API')", timeout=15_000)  # ReDoc drew it
    assert (
        "'unsafe-inline'"
        not in response.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    )
    seen["/api/redoc/"] = page.csp_violations()

    assert {path: found for path, found in seen.items() if found} == {}


def test_htmx_partials_and_the_live_badge_work_under_the_policy(watched_page, asgi_server, demo_data):
    page = watched_page
    sign_in(page, asgi_server)
    page.goto(f"{asgi_server}/deliveries/")
    page.wait_for_selector("#live-state[data-state=open]", timeout=10_000)

    with page.expect_response(
        lambda r: "/deliveries/" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.select_option("#f-status", "delivered")  # htmx fetches and swaps the table
    page.wait_for_function("() => !document.querySelector('#deliveries-table .delivery-row')")
    assert "status=delivered" in page.url  # hx-push-url ran too

    assert page.inner_text("#live-state") == "live"
    assert page.csp_violations() == []


def test_the_replay_progress_bar_is_drawn_without_inline_styles(watched_page, asgi_server, demo_data):
    page = watched_page
    sign_in(page, asgi_server)

    page.goto(f"{asgi_server}/replays/{demo_data['job']}/")

    bar = page.locator("#replay-progress [role=progressbar]")
    assert bar.is_visible() and bar.bounding_box()["width"] > 100
    assert page.csp_violations() == []


def test_the_admin_runs_under_the_policy(watched_page, asgi_server, make_user, demo_data):
    root = make_user("root", Role.ADMIN)
    root.is_staff = root.is_superuser = True
    root.save()
    target = Target.objects.get()
    page = watched_page
    page.goto(f"{asgi_server}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{asgi_server}/admin/")

    for path in ("/admin/", f"/admin/delivery/target/{target.pk}/change/", "/admin/axes/accessattempt/"):
        assert page.goto(f"{asgi_server}{path}").status == 200, path
        page.wait_for_timeout(150)

    assert page.csp_violations() == []
