"""Bulk actions on "all matching": the preview freezes and counts every case the filters match
(not one page), the job touches exactly that set (a case changed meanwhile is skipped and
named; a case that matches only later is left alone), each case is audited as a single action
would be, and a large job runs in Celery announcing its progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from controltower.audit.models import AuditEntry
from controltower.changes import Kind, changed
from exceptions.models import Case, CaseBulkJob, CaseEntry
from exceptions.services import case_acknowledge
from exceptions.services.bulk import case_bulk_sweep
from exceptions.tasks import bulk_run
from tests.conftest import wait_for
from tests.exceptions.test_api import made_cases, signed_in

API = "/api/v1/exceptions"
pytestmark = pytest.mark.django_db


def preview(client, **body):
    response = client.post(f"{API}/bulk", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def start(client, job: dict, expected: int | None = None):
    body = {} if expected is None else {"expected_count": expected}
    return client.post(f"{API}/bulk/{job['id']}/start", body, content_type="application/json")


def test_all_matching_touches_exactly_the_previewed_set(client, handler, make_user, plants):
    from controltower.accounts.roles import Role

    north = made_cases(120, plant=plants["north"], key="north")  # more than a page of the queue
    south = made_cases(3, plant=plants["south"], key="south")
    signed_in(client, handler)
    job = preview(
        client,
        action="resolve",
        reason_code="duplicate",
        comment="one ERP outage",
        filter={"plant": "P-NORTH"},
    )
    assert job["total"] == 120 and job["state"] == "previewed" and len(job["sample"]) == 20

    # Meanwhile: a rival works one of them, and a new case starts matching the filter.
    rival = make_user("rita", Role.EXCEPTION_HANDLER)
    changed_meanwhile = north[7]
    case_acknowledge(case_id=changed_meanwhile.pk, user=rival)
    (late,) = made_cases(1, plant=plants["north"], key="late")

    answer = start(client, job, expected=120)
    assert answer.status_code == 202 and answer.json()["state"] == "queued"  # large: a worker's
    bulk_run(job_id=job["id"])  # the task's own code, as the worker runs it

    done = client.get(f"{API}/bulk/{job['id']}").json()
    assert done["state"] == "done" and (done["done"], done["succeeded"], done["skipped"]) == (120, 119, 1)
    assert (
        done["problems"] == [{"case": changed_meanwhile.pk, "detail": done["problems"][0]["detail"]}]
        and "changed meanwhile" in done["problems"][0]["detail"]
    )
    resolved = set(Case.objects.filter(state="resolved").values_list("pk", flat=True))
    assert resolved == {case.pk for case in north} - {changed_meanwhile.pk}
    assert Case.objects.get(pk=late.pk).state == "open"  # matched only after the preview
    assert not Case.objects.filter(pk__in=[c.pk for c in south]).exclude(state="open").exists()
    # Each case touched is audited as a single action is, and the job's start too.
    assert CaseEntry.objects.filter(action="resolved", actor=handler, comment="one ERP outage").count() == 119
    assert AuditEntry.objects.filter(action="case.resolved", actor=handler).count() == 119
    assert AuditEntry.objects.filter(
        action="case.bulk_start", actor=handler, object_id=str(job["id"])
    ).exists()


def test_a_start_that_does_not_match_its_preview_is_refused(client, handler, make_user, plants):
    from controltower.accounts.roles import Role

    cases = made_cases(3, plant=plants["north"])
    signed_in(client, handler)
    job = preview(client, action="acknowledge", ids=[case.pk for case in cases])
    miscounted = start(client, job, expected=4)
    assert miscounted.status_code == 409 and miscounted["Content-Type"] == "application/problem+json"
    assert not Case.objects.filter(state="acknowledged").exists()
    first = start(client, job, expected=3)
    assert first.status_code == 202 and first.json()["state"] == "done"  # small: within the request
    assert Case.objects.filter(state="acknowledged").count() == 3
    assert start(client, job).status_code == 409  # started already

    old = preview(client, action="comment", comment="x", ids=[cases[0].pk])
    CaseBulkJob.objects.filter(pk=old["id"]).update(created_at=timezone.now() - timedelta(hours=1))
    assert "too old" in start(client, old).json()["detail"]
    client.logout()
    signed_in(client, make_user("rita", Role.EXCEPTION_HANDLER))
    assert start(client, job).status_code == 404  # not theirs to start


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"action": "resolve", "filter": {"state": "sleeping"}, "reason_code": "duplicate"}, "/filter/state"),
        ({"action": "resolve", "filter": {"colour": "red"}, "reason_code": "duplicate"}, "/filter/colour"),
        ({"action": "resolve", "filter": {}}, "/reason_code"),
        ({"action": "resolve", "filter": {}, "reason_code": "other"}, "/comment"),
        ({"action": "snooze", "filter": {}}, "/until"),
        ({"action": "assign", "filter": {}, "assignee": "ghost"}, "/assignee"),
        ({"action": "comment", "filter": {}, "comment": "x", "ids": [1]}, "/filter"),
        ({"action": "comment", "comment": "x", "ids": [999_999]}, "/ids"),
        ({"action": "explode", "filter": {}}, "/action"),
    ],
)
def test_a_bulk_request_that_cannot_run_is_a_problem_naming_the_field(client, handler, body, pointer):
    signed_in(client, handler)
    response = client.post(f"{API}/bulk", body, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert pointer in {error["pointer"] for error in response.json()["errors"]}, response.json()


def test_a_scoped_handlers_all_matching_never_reaches_another_plant(client, north_handler, plants):
    north = made_cases(2, plant=plants["north"], key="n")
    made_cases(2, plant=plants["south"], key="s")
    signed_in(client, north_handler)
    job = preview(client, action="acknowledge", filter={})
    assert job["total"] == 2 and {row["id"] for row in job["sample"]} == {case.pk for case in north}
    south_ids = list(Case.objects.filter(plant=plants["south"]).values_list("pk", flat=True))
    refused = client.post(
        f"{API}/bulk", {"action": "acknowledge", "ids": south_ids}, content_type="application/json"
    )
    assert refused.status_code == 400 and "outside your scope" in refused.json()["errors"][0]["detail"]


def test_the_page_previews_every_matching_case_then_runs_on_confirmation(client, handler, viewer, plants):
    made_cases(60, plant=plants["north"], key="n")  # more than the queue's page of 50
    signed_in(client, handler)
    queue = client.get(reverse("cases"), {"plant": "P-NORTH"})
    assert b"60 cases match these filters" in queue.content and b'id="bulk-form"' in queue.content
    response = client.post(
        reverse("case-bulk-preview"),
        {"select": "all", "query": "plant=P-NORTH&page=2", "action": "snooze", "for": "1d"},
    )
    job = CaseBulkJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("case-bulk", args=[job.pk])
    page = client.get(response["Location"])
    assert b'id="bulk-count"' in page.content and b"<strong>60</strong>" in page.content
    assert job.state == "previewed" and not Case.objects.filter(state="snoozed").exists()
    client.post(reverse("case-bulk-start", args=[job.pk]), {"expected_count": "60"})
    job.refresh_from_db()
    assert job.state == "queued" and job.total == 60
    bulk_run(job_id=job.pk)
    assert Case.objects.filter(state="snoozed").count() == 60
    # Ticked rows: exactly those.
    ticked = list(Case.objects.values_list("pk", flat=True)[:2])
    client.post(
        reverse("case-bulk-preview"), {"select": "ids", "ids": ticked, "action": "comment", "comment": "seen"}
    )
    small = CaseBulkJob.objects.latest("id")
    assert small.total == 2
    client.post(reverse("case-bulk-start", args=[small.pk]), {"expected_count": "2"})
    assert CaseEntry.objects.filter(action="commented", comment="seen").count() == 2
    client.logout()
    signed_in(client, viewer)
    assert (
        client.post(reverse("case-bulk-preview"), {"select": "all", "action": "comment"}).status_code == 403
    )
    assert client.get(reverse("case-bulk", args=[small.pk])).status_code == 404  # not theirs


@pytest.mark.django_db(transaction=True)
def test_a_bulk_jobs_progress_is_announced_chunk_by_chunk(client, handler, plants, monkeypatch):
    import exceptions.services.bulk as bulk

    made_cases(60, plant=plants["north"])
    signed_in(client, handler)
    job = preview(client, action="acknowledge", filter={})
    seen: list[int] = []

    def progress(sender, changes, **kwargs):
        for change in changes:
            if change.kind == Kind.JOB_PROGRESS and change.id == f"case-bulk:{job['id']}":
                seen.append(CaseBulkJob.objects.get(pk=job["id"]).position)

    changed.connect(progress)
    monkeypatch.setattr(bulk, "CHUNK", 25)
    try:
        assert start(client, job).status_code == 202
        bulk_run(job_id=job["id"])
    finally:
        changed.disconnect(progress)
    assert seen == [0, 25, 50, 60]
    assert CaseBulkJob.objects.get(pk=job["id"]).state == "done"


def test_a_job_whose_task_was_lost_is_queued_again(client, handler, plants):
    made_cases(60, plant=plants["north"])
    signed_in(client, handler)
    job = preview(client, action="acknowledge", filter={})
    start(client, job)
    assert case_bulk_sweep() == 0  # just started: its task is on its way
    CaseBulkJob.objects.filter(pk=job["id"]).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert case_bulk_sweep() == 1


@pytest.mark.django_db(transaction=True)
def test_a_large_bulk_resolve_runs_in_a_real_worker(client, handler, plants, celery_worker_process):
    made_cases(120, plant=plants["north"])
    signed_in(client, handler)
    job = preview(client, action="resolve", reason_code="no_action_needed", filter={})
    assert start(client, job, expected=120).json()["state"] == "queued"
    wait_for(
        lambda: CaseBulkJob.objects.get(pk=job["id"]).state == "done",
        timeout=60,
        what="the worker to finish the bulk job",
    )
    assert Case.objects.filter(state="resolved").count() == 120
    assert client.get(f"{API}/bulk/{job['id']}").json()["succeeded"] == 120


@pytest.mark.django_db(transaction=True)
@pytest.mark.anyio
async def test_the_bulk_page_shows_progress_live_to_who_started_it(client, handler, make_user, plants):
    from asgiref.sync import sync_to_async

    from controltower.accounts.roles import Role
    from tests.exceptions.test_live_pages import _connect

    await sync_to_async(made_cases)(60, plant=plants["north"])
    job = await sync_to_async(lambda: preview(signed_in(client, handler), action="acknowledge", filter={}))()
    other = await sync_to_async(make_user)("rita", Role.EXCEPTION_HANDLER)
    mine = await _connect(client, handler, f"/exceptions/bulk/{job['id']}/")
    first = await mine.receive_from(timeout=5)
    assert 'id="bulk-progress"' in first and 'data-state="previewed"' in first
    theirs = await _connect(client, other, f"/exceptions/bulk/{job['id']}/")
    assert await theirs.receive_nothing(timeout=1)  # not their job: the view answers 404

    await sync_to_async(lambda: start(signed_in(client, handler), job))()
    queued = await mine.receive_from(timeout=5)
    assert 'data-state="queued"' in queued and 'data-done="0"' in queued
    await sync_to_async(bulk_run)(job_id=job["id"])
    html = await mine.receive_from(timeout=5)
    while 'data-state="done"' not in html:  # chunk by chunk, coalesced by the hub
        html = await mine.receive_from(timeout=5)
    assert 'data-done="60"' in html and "60 of 60 worked: 60 changed, 0 skipped" in html
    assert await theirs.receive_nothing(timeout=1)
    await mine.disconnect()
    await theirs.disconnect()
