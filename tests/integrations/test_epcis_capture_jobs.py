"""Large EPCIS documents are captured by a worker: the request answers at once with a running job."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client

from controltower.masterdata.services import plant_upsert
from integrations.adapters.epcis import gs1
from integrations.models import CaptureJob, Event, RejectedMessage, SourceSystem
from integrations.services.capture_jobs import capture_job_run, capture_jobs_sweep
from integrations.tasks import capture_run, capture_sweep
from tests.conftest import wait_for

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "epcis"


def shipments(count: int, *, bad: int | None = None) -> dict:
    """supplier_shipping.jsonld with `count` copies of its event (distinct ids); `bad` misspelt."""
    document = json.loads((FIXTURES / "supplier_shipping.jsonld").read_text())
    event = document["epcisBody"]["eventList"][0]
    events = []
    for index in range(count):
        copied = copy.deepcopy(event)
        copied["eventID"] = f"urn:uuid:6f1c1f6e-2b0a-4c43-9d1e-{index:012d}"
        if index == bad:
            copied["bizStep"] = "shipped"
        events.append(copied)
    document["epcisBody"]["eventList"] = events
    return document


@pytest.fixture
def large(settings):
    """Documents of more than two events go to a worker."""
    settings.EPCIS_CAPTURE_INLINE_EVENTS = 2


@pytest.mark.django_db
def test_a_large_document_is_answered_running_and_captured_by_its_task(
    portal, large, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = portal(shipments(3))
    assert response.status_code == 202
    assert response.json()["running"] is True and Event.objects.count() == 0
    assert len(queued) == 1  # the task is queued only once the job is committed
    job = CaptureJob.objects.get()
    assert capture_run(job.pk) == "success"
    job.refresh_from_db()
    assert (job.running, job.success, job.counts["accepted"], job.body) == (False, True, 3, None)
    assert Event.objects.count() == 3
    assert capture_run(job.pk) == "done" and Event.objects.count() == 3  # a repeated task is a no-op


@pytest.mark.django_db
def test_a_large_invalid_document_fails_its_job_and_stores_nothing(portal, large):
    response = portal(shipments(3, bad=1))
    assert response.status_code == 202
    assert capture_job_run(job_id=CaptureJob.objects.get().pk) == "refused"
    job = Client().get(response["Location"], headers=response.wsgi_request.headers).json()
    assert (job["running"], job["success"], job["accepted"]) == (False, False, 0)
    (problem,) = job["errors"]
    assert problem["type"] == "epcisException:ValidationException"
    assert [e["pointer"] for e in problem["errors"]] == ["/epcisBody/eventList/1/bizStep"]
    assert Event.objects.count() == 0
    kept = RejectedMessage.objects.get(pk=problem["rejected_message"])
    assert len(json.loads(kept.body_text)["epcisBody"]["eventList"]) == 3  # the whole document


@pytest.mark.django_db
def test_a_large_document_refused_in_a_worker_is_kept_under_the_plant_its_events_go_to(
    system_poster, network, large
):
    """As a document refused in the request: the ERP names no plant; its events name one."""
    plant_upsert(code="P-NORTH", gln=gs1.gln("urn:epc:id:sgln:0614141.00777.0"))  # the ship-to
    response = system_poster(shipments(3, bad=1), token=network["erp"].token)
    assert response.status_code == 202
    assert capture_job_run(job_id=CaptureJob.objects.get().pk) == "refused"
    assert RejectedMessage.objects.get().plant_id == network["mes_north"].system.plant_id


@pytest.mark.django_db
def test_proceed_in_a_worker_stores_the_valid_events(portal, large):
    portal(shipments(4, bad=2), headers={"GS1-Capture-Error-Behaviour": "proceed"})
    assert capture_job_run(job_id=CaptureJob.objects.get().pk) == "failed"
    job = CaptureJob.objects.get()
    assert (
        job.counts
        == {"accepted": 3, "duplicate": 0, "rejected": 1}
        == {
            "accepted": Event.objects.count(),
            "duplicate": 0,
            "rejected": RejectedMessage.objects.count(),
        }
    )


def test_a_large_document_is_captured_by_a_real_worker(portal, large, celery_worker_process):
    response = portal(shipments(5))
    assert response.status_code == 202 and response.json()["running"]
    reader = Client()

    def finished() -> bool:
        return not reader.get(response["Location"], headers=response.wsgi_request.headers).json()["running"]

    wait_for(finished, timeout=30, what=f"the capture job\n{celery_worker_process.output()}")
    assert Event.objects.count() == 5 and CaptureJob.objects.get().success


def test_the_sweep_requeues_a_job_whose_task_was_lost(portal_token, celery_worker_process):
    """A running job without a task is what a broker outage at commit leaves behind."""
    body = json.dumps(shipments(3)).encode()
    job = CaptureJob.objects.create(
        capture_id=uuid.uuid4(),
        system=SourceSystem.objects.get(code="PORTAL-ACME"),
        error_behaviour="rollback",
        body=body,
        request={"endpoint": "/api/v1/epcis/capture", "content_type": "application/ld+json", "headers": {}},
    )
    assert capture_jobs_sweep(stale_after=timedelta(minutes=1)) == 0  # not stale yet
    CaptureJob.objects.filter(pk=job.pk).update(created_at=job.created_at - timedelta(minutes=5))
    assert capture_sweep() == 1
    wait_for(
        lambda: CaptureJob.objects.get(pk=job.pk).finished_at is not None,
        timeout=30,
        what=f"the swept job\n{celery_worker_process.output()}",
    )
    assert Event.objects.count() == 3 and CaptureJob.objects.get(pk=job.pk).success
    assert capture_sweep() == 0  # nothing left running
