"""CloudEvents intake: modes, idempotency, scope of system tokens, nothing lost."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest
from django.test import override_settings
from django.utils import timezone
from jsonschema import Draft202012Validator

from controltower.accounts.roles import Role
from controltower.accounts.services import personal_token_create
from controltower.traces.apis import TraceEventSerializer
from integrations.adapters.cloudevents import CloudEvent
from integrations.contracts import contract_get
from integrations.models import Event, EventIdentifier, RejectedMessage
from integrations.services.intake import business_time_of
from integrations.services.tokens import system_token_create
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db


def test_structured_event_is_accepted_with_its_identifiers(client, network):
    event = po_released("4500000001")
    response = post_events(client, network["erp"], event)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "accepted" and body["id"] == event["id"]
    stored = Event.objects.get(pk=body["event"])
    assert (stored.type, stored.version, stored.mode) == ("purchase_order.released", 1, "structured")
    assert stored.plant.code == "P-NORTH" and stored.supplier.code == "S-ACME"
    assert stored.as_cloudevent()["data"] == event["data"]
    identifiers = set(EventIdentifier.objects.filter(event=stored).values_list("kind", "value"))
    assert {
        ("purchase_order", "4500000001"),
        ("po_line", "4500000001/10"),
        ("plant", "P-NORTH"),
    } <= identifiers


def test_duplicate_event_is_stored_once(client, network):
    event = po_released(event_id="same-id")
    first = post_events(client, network["erp"], event).json()
    again = post_events(client, network["erp"], event)
    assert again.status_code == 202
    assert again.json()["status"] == "duplicate" and again.json()["event"] == first["event"]
    assert Event.objects.count() == 1


def test_binary_mode_reads_ce_headers(client, network):
    event = po_released("4500000002")
    response = client.post(
        "/api/v1/events",
        json.dumps(event["data"]),
        content_type="application/json",
        headers={
            **network["erp"].headers,
            "ce-specversion": "1.0",
            "ce-id": "bin-1",
            "ce-source": "ERP-CLOUD",
            "ce-type": "purchase_order.released",
            "ce-time": "2026-11-27T08%3A15%3A00Z",
        },
    )
    assert response.status_code == 202, response.json()
    assert Event.objects.get(event_id="bin-1").mode == "binary"


def test_batch_stores_good_events_and_reports_each_bad_one_by_pointer(client, network):
    good = po_released("4500000003")
    bad_quantity = po_released("4500000004")
    bad_quantity["data"]["lines"][0]["quantity"] = -5
    no_id = po_released("4500000005")
    del no_id["id"]
    response = post_events(
        client,
        network["erp"],
        [good, bad_quantity, no_id, good],
        content_type="application/cloudevents-batch+json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 1, 2)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["accepted", "rejected", "rejected", "duplicate"]
    assert body["results"][1]["errors"][0]["pointer"] == "/1/data/lines/0/quantity"
    assert body["results"][2]["errors"] == [{"pointer": "/2/id", "detail": "is required"}]
    assert [e.data["po_number"] for e in Event.objects.all()] == ["4500000003"]
    kept = RejectedMessage.objects.get(pk=body["results"][1]["rejected_message"])
    assert kept.batch_index == 1 and json.loads(kept.body_text) == bad_quantity


def test_batch_over_the_limit_is_refused_and_kept(client, network):
    with override_settings(INTAKE_MAX_BATCH_EVENTS=2):
        response = post_events(
            client,
            network["erp"],
            [po_released(), po_released(), po_released()],
            content_type="application/cloudevents-batch+json",
        )
    assert response.status_code == 413
    assert RejectedMessage.objects.get(pk=response.json()["rejected_message"]).status_code == 413


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda e: e.pop("source"), "/source"),
        (lambda e: e.update(specversion="0.3"), "/specversion"),
        (lambda e: e.update(time="yesterday"), "/time"),
        (lambda e: e.update(type="purchase_order.cancelled"), "/type"),
        (
            lambda e: e.update(dataschema="urn:controltower:contract:purchase_order.released:v9"),
            "/dataschema",
        ),
        (lambda e: e["data"].pop("po_number"), "/data/po_number"),
        (lambda e: e["data"].update(plant="P-ATLANTIS"), "/data/plant"),
    ],
)
def test_each_bad_event_is_refused_naming_the_field_and_kept(client, network, change, pointer):
    event = po_released()
    change(event)
    response = post_events(client, network["erp"], event)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert pointer in [error["pointer"] for error in problem["errors"]]
    kept = RejectedMessage.objects.get(pk=problem["rejected_message"])
    assert json.loads(kept.body_text) == event
    assert kept.headers["Authorization"] == "[redacted]"
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/cloudevents+json", 400),
        (b"\xff\xfe", "application/cloudevents+json", 400),
        (b'{"hello": 1}', "application/json", 415),
        (b"<xml/>", "text/xml", 415),
        (b'{"not": "a batch"}', "application/cloudevents-batch+json", 400),
    ],
)
def test_unreadable_requests_are_problems_and_kept_raw(client, network, body, content_type, status):
    response = post_events(client, network["erp"], body, content_type=content_type)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    kept = RejectedMessage.objects.get(pk=response.json()["rejected_message"])
    assert bytes(kept.body) == body and kept.system == network["erp"].system


def test_body_over_the_limit_is_413_and_kept(client, network):
    event = po_released()
    event["data"]["buyer"] = "x" * 5000
    with override_settings(INTAKE_MAX_BODY_BYTES=2048, DATA_UPLOAD_MAX_MEMORY_SIZE=2048):
        response = post_events(client, network["erp"], event)
    assert response.status_code == 413
    assert response.json()["type"] == "/problems/payload-too-large"
    assert RejectedMessage.objects.filter(status_code=413).exists()


def test_supplier_token_cannot_post_as_another_system(client, network):
    response = post_events(client, network["acme"], po_released(source="ERP-CLOUD"))
    assert response.status_code == 403
    assert response.json()["errors"][0]["pointer"] == "/source"
    assert Event.objects.count() == 0
    assert RejectedMessage.objects.get().system == network["acme"].system


def test_supplier_system_posts_only_for_its_own_supplier(client, network):
    response = post_events(client, network["acme"], po_released(source="PORTAL-ACME", supplier="S-BOLT"))
    assert response.status_code == 403
    assert response.json()["errors"][0]["pointer"] == "/data/supplier"
    ok = post_events(client, network["acme"], po_released(source="PORTAL-ACME", supplier="S-ACME"))
    assert ok.status_code == 202


def test_people_and_strangers_cannot_post_events(client, network, make_user):
    user = make_user("olga", Role.ADMIN)
    _, personal = personal_token_create(user=user, name="x")
    as_user = client.post(
        "/api/v1/events",
        json.dumps(po_released()),
        content_type="application/cloudevents+json",
        headers={"Authorization": f"Bearer {personal}"},
    )
    assert as_user.status_code == 403
    anonymous = client.post(
        "/api/v1/events", json.dumps(po_released()), content_type="application/cloudevents+json"
    )
    assert anonymous.status_code == 401
    revoked_token = "cts_" + "x" * 43
    stranger = client.post(
        "/api/v1/events",
        "{}",
        content_type="application/cloudevents+json",
        headers={"Authorization": f"Bearer {revoked_token}"},
    )
    assert stranger.status_code == 401
    assert Event.objects.count() == 0 and RejectedMessage.objects.count() == 0


def test_rate_limit_answers_429_with_retry_after(client, network):
    _, limited = system_token_create(system=network["erp"].system, rate_limit_per_minute=2)
    headers = {"Authorization": f"Bearer {limited}"}
    codes = [
        client.post(
            "/api/v1/events",
            json.dumps(po_released()),
            content_type="application/cloudevents+json",
            headers=headers,
        ).status_code
        for _ in range(3)
    ]
    assert codes[:2] == [202, 202]
    assert codes[2] == 429
    last = client.post("/api/v1/events", "{}", content_type="application/cloudevents+json", headers=headers)
    assert last["Content-Type"] == "application/problem+json" and 1 <= int(last["Retry-After"]) <= 60


def test_event_without_time_takes_its_business_time_from_the_contracts_time_field(client, network):
    event = po_released("4500000006")
    del event["time"]
    response = post_events(client, network["erp"], event)
    assert response.status_code == 202, response.json()
    stored = Event.objects.get(pk=response.json()["event"])
    assert stored.time_basis == Event.TimeBasis.DATA
    assert stored.event_time == datetime.fromisoformat(event["data"]["released_at"])
    assert "time" not in stored.attributes  # what we pass on is what was sent: no invented time
    api = client.get(f"/api/v1/events/{stored.pk}", headers=network["erp"].headers).json()
    assert api["time_basis"] == "data"


def test_event_with_time_keeps_it_as_the_business_time(client, network):
    event = po_released("4500000007")
    stored = Event.objects.get(pk=post_events(client, network["erp"], event).json()["event"])
    assert stored.time_basis == Event.TimeBasis.EVENT
    assert stored.event_time == datetime.fromisoformat(event["time"])


def test_without_a_time_anywhere_the_business_time_is_the_receipt_time():
    contract = replace(contract_get("purchase_order.released"), business_time=None)
    event = CloudEvent(specversion="1.0", id="x", source="s", type=contract.type, data={}, has_data=True)
    assert business_time_of(event, contract) == (None, Event.TimeBasis.RECEIPT)


def test_a_receipt_time_has_no_sync_lag_and_says_so():
    now = timezone.now()
    event = Event(event_time=now, received_at=now, time_basis=Event.TimeBasis.RECEIPT)
    assert TraceEventSerializer().get_lag_seconds(event) is None


def test_envelope_and_data_errors_are_answered_together(client, network):
    event = po_released("4500000008")
    del event["id"]
    event["time"] = "yesterday"
    event["data"]["lines"][0]["quantity"] = -5
    response = post_events(client, network["erp"], event)
    assert response.status_code == 400
    pointers = [error["pointer"] for error in response.json()["errors"]]
    assert pointers == ["/data/lines/0/quantity", "/id", "/time"]
    kept = RejectedMessage.objects.get(pk=response.json()["rejected_message"])
    assert [error["pointer"] for error in kept.errors] == pointers


def test_envelope_and_data_errors_of_a_batch_event_are_answered_together(client, network):
    bad = po_released("4500000009")
    bad["specversion"] = "0.3"
    bad["data"].pop("po_number")
    response = post_events(client, network["erp"], [bad], content_type="application/cloudevents-batch+json")
    pointers = [error["pointer"] for error in response.json()["results"][0]["errors"]]
    assert pointers == ["/0/data/po_number", "/0/specversion"]


def test_intake_answers_match_the_documented_openapi_schema(client, network, viewer):
    client.force_login(viewer)
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    client.logout()
    responses = schema["paths"]["/api/v1/events"]["post"]["responses"]

    def documented(code: str) -> Draft202012Validator:
        ref = responses[code]["content"]["application/json"]["schema"]
        return Draft202012Validator({**ref, "components": schema["components"]})

    bad = po_released("4500000010")
    bad["data"]["lines"][0]["quantity"] = -1
    batch = post_events(
        client,
        network["erp"],
        [po_released("4500000011"), bad],
        content_type="application/cloudevents-batch+json",
    )
    assert batch.status_code == 200
    documented("200").validate(batch.json())
    single = post_events(client, network["erp"], po_released("4500000012"))
    assert single.status_code == 202
    documented("202").validate(single.json())
