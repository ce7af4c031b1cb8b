"""The delivery APIs for operations scripts: listing, preview and start of bulk jobs, retry one,
pause/resume, subscriptions, resubmission — with roles and scope."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from controltower.accounts.roles import Role
from controltower.audit.models import AuditEntry
from integrations.delivery.models import Delivery, ReplayItem, ReplayJob, Resubmission, Subscription
from integrations.models import RejectedMessage
from tests.conftest import PASSWORD
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_letters(client, network, make_target, subscribe):
    """Five deliveries to one target, four dead-lettered (P-NORTH) and one delivered.

    Dead-lettering for real needs a failing target and a worker (tests/delivery/
    test_delivery_worker.py does that); here the rows are set to the state they would reach.
    """
    target = make_target("erp-post")
    subscribe(target, "purchase_order.released")
    for n in range(5):
        post_events(client, network["erp"], po_released(po=f"45000000{n}", event_id=f"evt-{n}"))
    now = timezone.now()
    ids = list(Delivery.objects.order_by("id").values_list("id", flat=True))
    Delivery.objects.filter(id__in=ids[:4]).update(
        status="dead_lettered", dead_lettered_at=now, dead_letter_reason="HTTP 500", error_class="http_5xx"
    )
    Delivery.objects.filter(id=ids[4]).update(status="delivered", delivered_at=now)
    return target, ids


def test_deliveries_list_filters_and_names_a_bad_filter(client, viewer, dead_letters):
    client.force_login(viewer)
    listed = client.get("/api/v1/deliveries", {"status": "dead_lettered"}).json()["results"]
    assert len(listed) == 4 and {d["target"] for d in listed} == {"erp-post"}
    assert listed[0]["idempotency_key"].startswith("ct-")
    bad = client.get("/api/v1/deliveries", {"since": "yesterday"})
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"
    assert bad.json()["errors"][0]["pointer"] == "/since"


def test_a_scoped_user_sees_only_deliveries_of_their_plants(client, make_user, plants, dead_letters):
    make_user("south", Role.VIEWER, everything=False, plants=[plants["south"]])
    client.login(username="south", password=PASSWORD)
    assert client.get("/api/v1/deliveries").json()["results"] == []
    assert client.get(f"/api/v1/deliveries/{dead_letters[1][0]}").status_code == 404


def test_dry_run_counts_every_match_and_start_takes_exactly_that_set(client, operator, dead_letters):
    client.force_login(operator)
    body = {"kind": "retry", "filter": {"target": "erp-post"}, "dry_run": True}
    preview = client.post("/api/v1/replays", body, content_type="application/json").json()
    assert preview["count"] == 4
    start = {**body, "dry_run": False, "reason": "ERP fixed", "as_of": preview["as_of"], "expected_count": 4}
    response = client.post("/api/v1/replays", start, content_type="application/json")
    assert response.status_code == 202, response.content
    job = ReplayJob.objects.get(pk=response.json()["id"])
    assert (job.total, job.created_by, job.reason) == (4, operator, "ERP fixed")
    assert AuditEntry.objects.filter(action="retry.start", object_id=str(job.pk)).exists()
    detail = client.get(f"/api/v1/replays/{job.pk}").json()
    assert detail["total"] == 4 and detail["created_by"] == operator.username


def test_start_refuses_when_the_set_changed_since_the_preview(client, operator, dead_letters):
    client.force_login(operator)
    body = {"kind": "retry", "filter": {"target": "erp-post"}, "dry_run": True}
    preview = client.post("/api/v1/replays", body, content_type="application/json").json()
    Delivery.objects.filter(pk=dead_letters[1][0]).update(status="delivered")  # retried by someone else
    start = {**body, "dry_run": False, "reason": "x", "as_of": preview["as_of"], "expected_count": 4}
    response = client.post("/api/v1/replays", start, content_type="application/json")
    assert response.status_code == 409 and "now matches 3" in response.json()["detail"]
    assert not ReplayJob.objects.exists()


def test_a_replay_needs_a_target_and_window_and_viewers_cannot_start_jobs(
    client, viewer, operator, dead_letters
):
    client.force_login(operator)
    response = client.post(
        "/api/v1/replays", {"kind": "replay", "filter": {}, "dry_run": True}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["errors"][0]["pointer"] == "/filter/target"
    client.force_login(viewer)
    body = {"kind": "retry", "filter": {}, "dry_run": True}
    assert client.post("/api/v1/replays", body, content_type="application/json").status_code == 403
    assert client.post(f"/api/v1/deliveries/{dead_letters[1][0]}/retry").status_code == 403


def test_retry_one_delivery_makes_a_one_item_job(client, operator, dead_letters):
    client.force_login(operator)
    response = client.post(
        f"/api/v1/deliveries/{dead_letters[1][0]}/retry", {"reason": "fixed"}, content_type="application/json"
    )
    assert response.status_code == 202
    job = ReplayJob.objects.get()
    assert job.kind == "retry" and job.filter["delivery"] == dead_letters[1][0] and job.total == 1
    pending = client.post(f"/api/v1/deliveries/{dead_letters[1][0]}/retry")
    assert pending.status_code == 202  # still dead-lettered until the job's worker picks it up
    Delivery.objects.filter(pk=dead_letters[1][0]).update(status="retrying")
    assert client.post(f"/api/v1/deliveries/{dead_letters[1][0]}/retry").status_code == 409


def test_pause_and_resume_over_the_api_are_audited(client, viewer, operator, dead_letters):
    target, _ = dead_letters
    client.force_login(viewer)
    assert client.post(f"/api/v1/targets/{target.code}/pause", {"reason": "x"}).status_code == 403
    client.force_login(operator)
    missing_reason = client.post(f"/api/v1/targets/{target.code}/pause", {}, content_type="application/json")
    assert missing_reason.status_code == 400 and missing_reason.json()["errors"][0]["pointer"] == "/reason"
    paused = client.post(
        f"/api/v1/targets/{target.code}/pause", {"reason": "ERP upgrade"}, content_type="application/json"
    )
    assert paused.status_code == 200 and paused.json()["paused_by"] == operator.username
    assert client.post(f"/api/v1/targets/{target.code}/pause", {"reason": "again"}).status_code == 409
    assert client.post(f"/api/v1/targets/{target.code}/resume").json()["paused"] is False
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "target.pause",
        "target.resume",
    ]
    listed = client.get("/api/v1/targets").json()
    assert "secret" not in listed[0]


def test_subscriptions_are_read_by_viewers_and_changed_only_with_configure(
    client, viewer, make_user, dead_letters
):
    client.force_login(viewer)
    assert client.get("/api/v1/subscriptions").json()[0]["event_types"] == ["purchase_order.released"]
    body = {
        "name": "GR to ERP",
        "target": "erp-post",
        "event_types": ["goods.received"],
        "plants": ["P-NORTH"],
    }
    assert client.post("/api/v1/subscriptions", body, content_type="application/json").status_code == 403
    admin = make_user("ada", Role.ADMIN)
    client.force_login(admin)
    created = client.post("/api/v1/subscriptions", body, content_type="application/json")
    assert created.status_code == 201 and created.json()["plants"] == ["P-NORTH"]
    bad = client.post(
        "/api/v1/subscriptions", {**body, "event_types": ["no.such"]}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/event_types"
    assert Subscription.objects.count() == 2


def test_a_rejected_message_is_resubmitted_fixed_and_linked(client, network, operator, viewer):
    broken = po_released(event_id="fix-me")
    broken["data"]["plant"] = "P-ATLANTIS"
    post_events(client, network["erp"], broken)
    rejected = RejectedMessage.objects.get()
    fixed = {**broken, "data": {**broken["data"], "plant": "P-NORTH"}}
    url = f"/api/v1/rejected-messages/{rejected.pk}/resubmit"
    client.force_login(viewer)
    assert client.post(url, {"body": json.dumps(fixed), "reason": "plant"}).status_code == 403
    client.force_login(operator)
    response = client.post(
        url, {"body": json.dumps(fixed), "reason": "plant code fixed"}, content_type="application/json"
    )
    assert response.status_code == 202
    resubmission = Resubmission.objects.get()
    assert resubmission.original == rejected and resubmission.state == "queued"
    from integrations.delivery.services.resubmission import resubmission_run

    assert resubmission_run(resubmission_id=resubmission.pk) == "accepted"  # what the worker runs
    resubmission.refresh_from_db()
    assert resubmission.event.event_id == "fix-me" and resubmission.event.plant.code == "P-NORTH"
    not_json = client.post(url, {"body": "{", "reason": "x"}, content_type="application/json")
    assert not_json.status_code == 400 and not_json.json()["errors"][0]["pointer"] == "/body"


def test_job_items_snapshot_exactly_the_counted_set(operator, dead_letters):
    from controltower.accounts.access import access_for
    from integrations.delivery.selectors import DeliveryQuery
    from integrations.delivery.services.jobs import replay_preview, replay_run, replay_start

    query = DeliveryQuery(target="erp-post")
    preview = replay_preview(kind="retry", query=query, access=access_for(operator))
    job = replay_start(
        kind="retry", query=query, reason="r", user=operator, as_of=preview.as_of, expected_count=4
    )
    replay_run(job_id=job.pk)  # what the replay worker runs (publishes deliver tasks)
    assert set(ReplayItem.objects.filter(job=job).values_list("delivery_id", flat=True)) == set(
        dead_letters[1][:4]
    )
    assert set(Delivery.objects.filter(job=job).values_list("status", flat=True)) == {"pending"}
    assert Delivery.objects.get(pk=dead_letters[1][4]).status == "delivered"  # not in a retry


@pytest.mark.parametrize(
    ("fix", "answer"),
    [
        (lambda text: text.replace('"P-NORTH"', '"P-NORTH\x00"'), 400),  # a raw NUL in the text
        (lambda text: text.replace('"P-NORTH"', '"\ud800"'), 400),  # a raw lone surrogate
        (lambda text: text.replace('"P-NORTH"', '"P-NORTH\\u0000"'), 202),  # an escaped one
        (lambda text: text.replace('"P-NORTH"', '"\\ud800"'), 202),
        (lambda text: text.replace('"P-NORTH"', "[" * 5000 + "]" * 5000), 202),
    ],
    ids=["raw-nul", "raw-lone-surrogate", "escaped-nul", "lone-surrogate", "nested-5000-deep"],
)
def test_a_hostile_resubmission_is_refused_or_rejected_again_never_a_500(
    client, network, operator, fix, answer
):
    from integrations.delivery.services.resubmission import resubmission_run

    broken = po_released(event_id="fix-me-too")
    broken["data"]["plant"] = "P-ATLANTIS"
    post_events(client, network["erp"], broken)
    rejected = RejectedMessage.objects.get()
    text = fix(json.dumps({**broken, "data": {**broken["data"], "plant": "P-NORTH"}}))
    client.force_login(operator)
    url = f"/api/v1/rejected-messages/{rejected.pk}/resubmit"
    response = client.post(url, {"body": text, "reason": "fixed"}, content_type="application/json")
    assert response.status_code == answer, response.content[:300]
    if answer == 400:
        assert response.json()["errors"][0]["pointer"] == "/body"
        return
    resubmission = Resubmission.objects.get()
    assert resubmission_run(resubmission_id=resubmission.pk) == "rejected"
    resubmission.refresh_from_db()
    assert resubmission.errors[0]["pointer"].startswith("/data/plant")
    assert client.get(f"/rejected/{resubmission.rejected_again_id}/").status_code == 200
