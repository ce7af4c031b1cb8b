"""Delivery pages: deliveries and their lineage, dead letters with "retry all that match",
replay jobs, targets, resubmitting a rejected message, and deliveries on the trace page.

Data comes through the real services: events through the intake API (routing writes the
deliveries), attempts through `delivery_attempt` against a real HTTP endpoint — a local receiver
that answers 202, or a closed port that refuses the connection (with one attempt allowed, that is
a real dead letter).
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from controltower.accounts.roles import Role
from controltower.traces.models import Trace
from controltower.traces.services import correlate_events
from integrations.delivery.models import Delivery, ReplayJob, Resubmission, Subscription, Target
from integrations.delivery.selectors import DeliveryQuery
from integrations.delivery.services import jobs
from integrations.delivery.services.delivering import delivery_attempt
from integrations.delivery.services.resubmission import resubmission_run
from integrations.models import Event, RejectedMessage
from tests.conftest import PASSWORD
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db

REFUSING = "http://127.0.0.1:9/orders"  # nothing listens on the discard port: connection refused
HTMX = {"HX-Request": "true"}


# --- builders ---------------------------------------------------------------------------------
class _Accepting(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 — the http.server API
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"accepted": true}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A target system that accepts everything (the outside world, for real over HTTP)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/orders"
    server.shutdown()
    server.server_close()


def target(code: str, url: str = REFUSING, **fields) -> Target:
    """A target that gives up after one failed attempt (so a refusal dead-letters at once) and
    whose circuit stays closed (so every delivery is really attempted)."""
    fields = {"max_attempts": 1, "circuit_threshold": 10_000, "timeout_seconds": 5.0, **fields}
    return Target.objects.create(code=code, name=code.upper(), url=url, **fields)


def subscribe(to: Target, *types: str) -> Subscription:
    return Subscription.objects.create(name=f"to {to.code}", target=to, event_types=list(types))


def send_all() -> list[str]:
    """One attempt of every live delivery, as the `deliver` task would make it."""
    live = Delivery.objects.filter(status__in=("pending", "retrying")).order_by("id")
    return [delivery_attempt(delivery_id=pk) for pk in live.values_list("pk", flat=True)]


def ingest(sender, *events: dict) -> None:
    api = Client()  # the source system's own client: a bearer token, no session
    body = list(events) if len(events) > 1 else events[0]
    content_type = "application/cloudevents-batch+json" if len(events) > 1 else "application/cloudevents+json"
    response = post_events(api, sender, body, content_type=content_type)
    assert response.status_code in (200, 201, 202, 207), response.content


def north(event_id: str, **data) -> dict:
    return po_released("4500012345", event_id=event_id, **{"plant": "P-NORTH", "supplier": "S-ACME", **data})


def south(event_id: str, **data) -> dict:
    return po_released("4500099999", event_id=event_id, **{"plant": "P-SOUTH", "supplier": "S-BOLT", **data})


@pytest.fixture
def dead_letters(network):
    """Two dead letters to erp-post: one about P-NORTH, one about P-SOUTH."""
    subscribe(target("erp-post"), "purchase_order.released")
    ingest(network["erp"], north("n-1"), south("s-1"))
    assert send_all() == ["dead_lettered", "dead_lettered"]
    return {
        "north": Delivery.objects.get(event__event_id="n-1"),
        "south": Delivery.objects.get(event__event_id="s-1"),
    }


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name} in the page"
    return match.group(1)


def start_form(page: str) -> dict[str, str]:
    """The start form's fields as the preview rendered them (filter, moment, count)."""
    form = page[page.index('action="/replays/start/"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


# --- deliveries and one delivery --------------------------------------------------------------
def test_deliveries_are_listed_filtered_and_scoped(client, make_user, plants, dead_letters):
    make_user("n", Role.VIEWER, everything=False, plants=[plants["north"]])
    client.login(username="n", password=PASSWORD)
    listing = client.get("/deliveries/").content.decode()
    assert f"/deliveries/{dead_letters['north'].pk}/" in listing
    assert f"/deliveries/{dead_letters['south'].pk}/" not in listing
    assert "Dead-lettered" in listing and "connection" in listing  # status badge, error class
    assert client.get(f"/deliveries/{dead_letters['south'].pk}/").status_code == 404
    assert client.get(f"/deliveries/{dead_letters['north'].pk}/").status_code == 200
    assert f"/deliveries/{dead_letters['south'].pk}/" not in client.get("/dead-letters/").content.decode()

    partial = client.get("/deliveries/", {"status": "delivered"}, headers=HTMX).content.decode()
    assert 'id="deliveries-table"' in partial and "<html" not in partial
    assert "No deliveries match" in partial


@pytest.mark.parametrize(
    ("url", "params", "label"),
    [
        ("/deliveries/", {"since": "yesterday"}, "From"),
        ("/deliveries/", {"until": "2026-13-45T00:00"}, "Until"),  # well-formed, impossible
        ("/deliveries/", {"status": "lost"}, "Status"),
        ("/dead-letters/", {"error_class": "gremlins"}, "Error class"),
        ("/dead-letters/", {"since": "2026-11-27T08:00:00+99:00"}, "From"),
    ],
)
def test_a_bad_filter_value_is_named_inline_never_a_500(client, viewer, dead_letters, url, params, label):
    client.force_login(viewer)
    page = client.get(url, params)
    assert page.status_code == 400
    assert re.search(rf'id="query-error"><strong>{label}</strong>', page.content.decode())
    partial = client.get(url, params, headers=HTMX)  # htmx swaps only 2xx answers in
    assert partial.status_code == 200 and 'id="query-error"' in partial.content.decode()


def test_times_without_an_offset_are_utc(client, viewer, dead_letters):
    client.force_login(viewer)
    assert (
        client.get("/deliveries/", {"since": "2020-01-01T00:00"}).content.decode().count("delivery-row") == 2
    )
    assert "No deliveries match" in client.get("/deliveries/", {"since": "2999-01-01"}).content.decode()


def test_delivery_page_shows_the_attempts_key_and_payload_only_with_view_payloads(
    client, viewer, operator, network, receiver
):
    subscribe(target("wms-feed", url=receiver), "purchase_order.released")
    ingest(network["erp"], north("n-1", buyer="Jane Doe"))
    assert send_all() == ["delivered"]
    delivery = Delivery.objects.get()
    client.force_login(viewer)
    page = client.get(f"/deliveries/{delivery.pk}/").content.decode()
    assert delivery.idempotency_key in page and page.count('class="attempt-row"') == 1
    assert "First attempt" in page and "202" in page and "{&quot;accepted&quot;: true}" in page
    assert "Jane Doe" not in page and "view_payloads" in page
    assert "Send again" not in page  # viewers have no actions

    client.force_login(operator)
    page = client.get(f"/deliveries/{delivery.pk}/").content.decode()
    assert "Jane Doe" in page
    assert "Send again (same Idempotency-Key)" in page


# --- actions: who may ---------------------------------------------------------------------------
def test_a_viewer_may_not_act(client, viewer, dead_letters, network):
    post_events(Client(), network["erp"], north("bad", plant="P-ATLANTIS"))
    rejected = RejectedMessage.objects.get()
    job = jobs.replay_start(
        kind="retry",
        query=DeliveryQuery(target="erp-post"),
        reason="test",
        user=viewer,  # the service does not check capabilities; the pages do
    )
    erp = Target.objects.get(code="erp-post")
    client.force_login(viewer)
    for url, data in [
        (f"/deliveries/{dead_letters['north'].pk}/retry/", {"reason": "x"}),
        (
            "/replays/start/",
            {"kind": "retry", "reason": "x", "as_of": "2026-01-01T00:00:00Z", "expected_count": 1},
        ),
        (f"/replays/{job.pk}/cancel/", {}),
        (f"/replays/{job.pk}/verify/", {}),
        (f"/targets/{erp.pk}/pause/", {"reason": "x"}),
        (f"/targets/{erp.pk}/resume/", {}),
        (f"/rejected/{rejected.pk}/", {"body": "{}", "reason": "x"}),
    ]:
        assert client.post(url, data).status_code == 403, url
    assert ReplayJob.objects.count() == 1 and not Resubmission.objects.exists()
    page = client.get("/dead-letters/").content.decode()
    assert 'id="retry-all"' not in page
    assert "/pause/" not in client.get("/targets/").content.decode()  # no pause or resume forms


def test_actions_need_the_csrf_token(operator, dead_letters):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    answer = browser.post(f"/deliveries/{dead_letters['north'].pk}/retry/", {"reason": "x"})
    assert answer.status_code == 403 and not ReplayJob.objects.exists()


def test_operator_retries_one_dead_letter_and_its_lineage_shows_the_job(
    client, operator, dead_letters, django_capture_on_commit_callbacks
):
    dead = dead_letters["north"]
    client.force_login(operator)
    assert client.post(f"/deliveries/{dead.pk}/retry/", {"reason": ""}).status_code == 302
    assert not ReplayJob.objects.exists()  # a reason is required
    answer = client.post(f"/deliveries/{dead.pk}/retry/", {"reason": "port opened on the ERP side"})
    job = ReplayJob.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/replays/{job.pk}/"
    assert (job.kind, job.total, job.created_by, job.reason) == (
        "retry",
        1,
        operator,
        "port opened on the ERP side",
    )

    # What the worker does: hand the item over, attempt it (refused again), finish and verify.
    jobs.replay_run(job_id=job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_attempt(delivery_id=dead.pk) == "dead_lettered"
    jobs.replay_verify(job_id=job.pk)

    page = client.get(f"/deliveries/{dead.pk}/").content.decode()
    assert page.count('class="attempt-row"') == 2
    assert "Retried by an operator" in page and f'href="/replays/{job.pk}/"' in page and "by otto" in page
    assert 'class="job-row"' in page and "port opened on the ERP side" in page
    job_page = client.get(f"/replays/{job.pk}/").content.decode()
    assert "1 still failing" in job_page and f'href="/deliveries/{dead.pk}/"' in job_page
    assert "every 2s" not in job_page and 'id="replay-verify"' in job_page


# --- dead letters: retry all that match ---------------------------------------------------------
def test_preview_counts_every_matching_dead_letter_not_just_the_page(client, operator, network):
    subscribe(target("erp-post"), "purchase_order.released")
    subscribe(target("tms-feed"), "purchase_order.released")
    ingest(network["erp"], *[north(f"n-{i}") for i in range(55)])
    assert set(send_all()) == {"dead_lettered"}
    client.force_login(operator)

    listing = client.get("/dead-letters/", {"target": "erp-post"}).content.decode()
    assert listing.count('class="dead-letter-row"') == 50 and "1–50 of 55" in listing
    preview = client.get("/dead-letters/", {"target": "erp-post", "preview": "1"}, headers=HTMX)
    body = preview.content.decode()
    assert 'id="dead-letters-results"' in body and "<html" not in body
    assert "<strong>55</strong> dead letters match (all of them, not just this page)" in body
    assert "Start: retry 55" in body

    form = start_form(body)
    assert form["kind"] == "retry" and form["target"] == "erp-post" and form["expected_count"] == "55"
    answer = client.post("/replays/start/", {**form, "reason": "ERP back after the outage"}, headers=HTMX)
    job = ReplayJob.objects.get()
    assert answer.status_code == 200 and answer["HX-Redirect"] == f"/replays/{job.pk}/"
    assert job.total == 55 and job.filter["target"] == "erp-post" and job.filter["as_of"]


def test_a_changed_set_shows_the_new_count_and_starts_nothing(client, operator, make_user, network):
    subscribe(target("erp-post"), "purchase_order.released")
    ingest(network["erp"], north("n-1"), north("n-2"), north("n-3"))
    send_all()
    client.force_login(operator)
    form = start_form(client.get("/dead-letters/", {"preview": "1"}).content.decode())
    assert form["expected_count"] == "3"

    # Meanwhile a colleague retries one of them: it is no longer a dead letter.
    colleague = make_user("carla", Role.OPERATOR)
    single = jobs.delivery_retry(delivery=Delivery.objects.first(), user=colleague, reason="one by hand")
    jobs.replay_run(job_id=single.pk)

    answer = client.post("/replays/start/", {**form, "reason": "bulk"})
    page = answer.content.decode()
    assert answer.status_code == 409 and 'id="preview-changed"' in page
    assert "The preview counted 3; the filter now matches 2" in page and "No job was started" in page
    assert "<strong>2</strong> dead letters match" in page  # the new count, previewed afresh
    assert list(ReplayJob.objects.values_list("created_by__username", flat=True)) == ["carla"]

    swapped = client.post("/replays/start/", {**form, "reason": "bulk"}, headers=HTMX).content.decode()
    assert (
        swapped.startswith('\n<div class="replay-panel" id="retry-panel">') or 'id="retry-panel"' in swapped
    )
    assert "<html" not in swapped and 'id="preview-changed"' in swapped


def test_a_start_without_a_preview_or_reason_is_refused(client, operator, dead_letters):
    client.force_login(operator)
    form = start_form(client.get("/dead-letters/", {"preview": "1"}).content.decode())
    no_reason = client.post("/replays/start/", {**form, "reason": " "})
    assert no_reason.status_code == 400 and "<strong>Reason</strong>" in no_reason.content.decode()
    unpreviewed = client.post("/replays/start/", {"kind": "retry", "reason": "x"})
    assert unpreviewed.status_code == 400 and "Preview first" in unpreviewed.content.decode()
    assert not ReplayJob.objects.exists()


# --- replay jobs ----------------------------------------------------------------------------------
def test_replay_of_a_window_includes_delivered_ones_and_needs_a_window(client, operator, network, receiver):
    subscribe(target("erp-post", url=receiver), "purchase_order.released")
    ingest(network["erp"], north("n-1"), south("s-1"))
    assert send_all() == ["delivered", "delivered"]
    client.force_login(operator)
    panel = client.get(
        "/replays/", {"preview": "1", "target": "erp-post"}, headers={**HTMX, "HX-Target": "replay-panel"}
    ).content.decode()
    assert 'id="replay-panel"' in panel and "<html" not in panel and 'id="replays-table"' not in panel
    assert "<strong>From</strong>: A replay needs a time window" in panel

    window = {"target": "erp-post", "since": "2020-01-01T00:00", "until": "2999-01-01T00:00"}
    page = client.get("/replays/", {"preview": "1", **window}).content.decode()
    assert "<strong>2</strong> deliveries match" in page
    answer = client.post("/replays/start/", {**start_form(page), "reason": "ERP restored from backup"})
    job = ReplayJob.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/replays/{job.pk}/"
    assert (job.kind, job.total, job.filter["since"]) == ("replay", 2, "2020-01-01T00:00:00+00:00")
    listing = client.get("/replays/").content.decode()
    assert f'href="/replays/{job.pk}/"' in listing and "ERP restored from backup" in listing


def test_job_page_shows_progress_without_polling_and_can_be_cancelled_then_verified(
    client, operator, viewer, dead_letters
):
    client.force_login(operator)
    form = start_form(client.get("/dead-letters/", {"preview": "1"}).content.decode())
    client.post("/replays/start/", {**form, "reason": "retry both"})
    job = ReplayJob.objects.get()

    page = client.get(f"/replays/{job.pk}/").content.decode()
    # The progress is pushed over the live socket (tests/controltower/test_live_delivery.py).
    assert "every 2s" not in page and 'role="progressbar"' in page
    assert "<strong>2</strong> pending" in page and 'id="replay-cancel"' in page
    progress = client.get(
        f"/replays/{job.pk}/", headers={**HTMX, "HX-Target": "replay-progress"}
    ).content.decode()
    assert (
        progress.lstrip().startswith('<section class="card" id="replay-progress"')
        and "replay-items" not in progress
    )

    assert client.post(f"/replays/{job.pk}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.state == "cancelling" and job.cancelled_by == operator
    jobs.replay_run(job_id=job.pk)  # the runner sees the cancel: nothing is handed over
    job.refresh_from_db()
    assert job.state == "cancelled"

    page = client.get(f"/replays/{job.pk}/").content.decode()
    assert "<strong>2</strong> cancelled" in page and "Cancelled by" in page
    jobs.replay_verify(job_id=job.pk)  # what the worker does
    page = client.get(f"/replays/{job.pk}/").content.decode()
    assert "none still failing" in page
    assert page.count('class="item-row"') == 2 and 'id="replay-verify"' in page
    answer = client.post(f"/replays/{job.pk}/verify/", follow=True)
    assert "Verification of job" in answer.content.decode()

    client.force_login(viewer)  # sees everything, so sees the job, but has no buttons
    page = client.get(f"/replays/{job.pk}/").content.decode()
    assert 'id="replay-verify"' not in page and 'id="replay-cancel"' not in page


def test_a_scoped_user_sees_only_their_own_jobs_and_items_in_scope(
    client, make_user, plants, operator, dead_letters
):
    client.force_login(operator)
    form = start_form(client.get("/dead-letters/", {"preview": "1"}).content.decode())
    client.post("/replays/start/", {**form, "reason": "both plants"})
    job = ReplayJob.objects.get()
    make_user("n", Role.OPERATOR, everything=False, plants=[plants["north"]])
    client.login(username="n", password=PASSWORD)
    assert client.get(f"/replays/{job.pk}/").status_code == 404
    assert f"/replays/{job.pk}/" not in client.get("/replays/").content.decode()


# --- targets ----------------------------------------------------------------------------------------
def test_targets_show_policy_state_and_counts_and_operators_pause_and_resume(client, operator, dead_letters):
    erp = Target.objects.get(code="erp-post")
    Target.objects.filter(pk=erp.pk).update(auth="bearer", secret="s3cr3t-t0ken")
    client.force_login(operator)
    page = client.get("/targets/").content.decode()
    assert 'id="target-erp-post"' in page and "Bearer token" in page and "s3cr3t-t0ken" not in page
    assert "max 1 attempts" in page and "circuit closed" in page and "2 dead-lettered" in page

    client.post(f"/targets/{erp.pk}/pause/", {"reason": ""})
    erp.refresh_from_db()
    assert not erp.paused  # a reason is required
    client.post(f"/targets/{erp.pk}/pause/", {"reason": "ERP maintenance 22:00–02:00"})
    erp.refresh_from_db()
    assert erp.paused and erp.paused_by == operator
    page = client.get("/targets/", {"show": "paused"}).content.decode()
    assert "by otto" in page and "ERP maintenance 22:00–02:00" in page and "Resume" in page

    client.post(f"/targets/{erp.pk}/resume/")
    erp.refresh_from_db()
    assert not erp.paused
    assert "No targets match" in client.get("/targets/", {"show": "paused"}).content.decode()


# --- resubmitting a rejected message ------------------------------------------------------------
def test_operator_fixes_and_resubmits_a_rejected_message(client, operator, network):
    ingest_answer = post_events(Client(), network["erp"], north("n-bad", plant="P-ATLANTIS"))
    assert ingest_answer.status_code == 400
    rejected = RejectedMessage.objects.get()
    client.force_login(operator)
    page = client.get(f"/rejected/{rejected.pk}/").content.decode()
    assert 'id="resubmit-body"' in page and "P-ATLANTIS" in page

    bad = client.post(f"/rejected/{rejected.pk}/", {"body": "{not json", "reason": "fixed"})
    assert bad.status_code == 400 and 'id="resubmit-error"' in bad.content.decode()
    assert "{not json" in bad.content.decode()  # what was typed is kept

    fixed = rejected.body_text.replace("P-ATLANTIS", "P-NORTH")
    answer = client.post(f"/rejected/{rejected.pk}/", {"body": fixed, "reason": "plant code corrected"})
    assert answer.status_code == 302
    resubmission = Resubmission.objects.get()
    assert (resubmission.original, resubmission.created_by) == (rejected, operator)
    page = client.get(f"/rejected/{rejected.pk}/").content.decode()
    assert 'class="resubmission-row"' in page and "plant code corrected" in page and "Queued" in page

    assert resubmission_run(resubmission_id=resubmission.pk) == "accepted"  # what the worker does
    event = Event.objects.get(event_id="n-bad")
    page = client.get(f"/rejected/{rejected.pk}/").content.decode()
    assert "Accepted" in page and f"/api/v1/events/{event.pk}" in page


def test_a_refused_resubmission_links_back_to_the_original(client, operator, network):
    post_events(Client(), network["erp"], north("n-bad", plant="P-ATLANTIS"))
    rejected = RejectedMessage.objects.get()
    client.force_login(operator)
    client.post(f"/rejected/{rejected.pk}/", {"body": rejected.body_text, "reason": "try as is"})
    assert resubmission_run(resubmission_id=Resubmission.objects.get().pk) == "rejected"
    again = Resubmission.objects.get().rejected_again
    assert f'href="/rejected/{again.pk}/"' in client.get(f"/rejected/{rejected.pk}/").content.decode()
    assert f'href="/rejected/{rejected.pk}/"' in client.get(f"/rejected/{again.pk}/").content.decode()


# --- the trace page ---------------------------------------------------------------------------------
def test_trace_page_lists_the_deliveries_of_its_events(client, viewer, network, dead_letters):
    correlate_events(event_ids=list(Event.objects.values_list("pk", flat=True)))
    trace = Trace.objects.get(plant__code="P-NORTH")
    client.force_login(viewer)
    page = client.get(f"/traces/{trace.pk}/").content.decode()
    assert 'id="trace-deliveries"' in page
    assert f'href="/deliveries/{dead_letters["north"].pk}/"' in page
    assert f'href="/deliveries/{dead_letters["south"].pk}/"' not in page
    assert "erp-post" in page and "Dead-lettered" in page


def test_a_retry_preview_leaves_no_preview_in_the_pushed_url(client, operator, network):
    subscribe(target("erp-post"), "purchase_order.released")
    ingest(network["erp"], north("n-1"))
    send_all()
    client.force_login(operator)
    preview = client.get("/dead-letters/", {"target": "erp-post", "since": "", "preview": "1"}, headers=HTMX)
    assert "Start: retry 1" in preview.content.decode()
    assert preview["HX-Push-Url"] == "/dead-letters/?target=erp-post&since="


def test_back_to_a_pushed_url_gets_the_whole_page_not_a_bare_section(client, operator, network):
    client.force_login(operator)
    restore = client.get(
        "/dead-letters/", {"target": "erp-post"}, headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    body = restore.content.decode()
    assert body.lstrip().startswith("<!doctype html>") and 'id="dead-letters-results"' in body
