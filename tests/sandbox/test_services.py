"""Sandbox services and selectors: settings, demo receivers, receipts and their order."""

from __future__ import annotations

import random

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from integrations.sandbox.models import SandboxReceipt, SandboxReceiver
from integrations.sandbox.selectors import (
    sandbox_receipts_in_arrival_order,
    sandbox_receipts_newest_first,
    sandbox_receiver_path,
)
from integrations.sandbox.services import (
    sandbox_receipt_record,
    sandbox_receipts_clear,
    sandbox_receiver_configure,
    sandbox_receivers_ensure_demo,
)
from integrations.sandbox.views import error_injected
from tests.sandbox.conftest import cloudevent

pytestmark = pytest.mark.django_db


def record(receiver, key: str, *, body: bytes = b"{}", content_type: str = "application/json", headers=None):
    return sandbox_receipt_record(
        receiver=receiver, idempotency_key=key, body=body, content_type=content_type, headers=headers or {}
    )


def test_demo_receivers_are_created_once_and_keep_their_changed_settings():
    erp, portal, tms = sandbox_receivers_ensure_demo()
    sandbox_receiver_configure(receiver=erp, outage=True)

    again = sandbox_receivers_ensure_demo()

    assert [(r.code, r.name) for r in again] == [
        ("erp", "Simulated ERP"),
        ("portal", "Simulated supplier portal"),
        ("tms", "Simulated TMS"),
    ]
    assert [r.pk for r in again] == [erp.pk, portal.pk, tms.pk]
    assert SandboxReceiver.objects.count() == 3
    assert SandboxReceiver.objects.get(code="erp").outage is True
    assert all(0 < r.error_rate <= 0.1 and r.latency_ms > 0 and r.auth_kind == "none" for r in again)
    assert "sandbox" in str(erp)


def test_configure_refuses_bad_values_naming_them_and_leaves_the_receiver_as_it_was(make_receiver):
    receiver = make_receiver("erp", error_rate=0.1)

    with pytest.raises(ValidationError) as refused:
        sandbox_receiver_configure(
            receiver=receiver, error_rate=2, error_status=418, latency_ms=10, colour="red"
        )

    assert set(refused.value.message_dict) == {"colour"}  # unknown names are refused before anything
    with pytest.raises(ValidationError) as refused:
        sandbox_receiver_configure(receiver=receiver, error_rate=2, error_status=418, latency_ms=10)
    assert set(refused.value.message_dict) == {"error_rate", "error_status"}
    assert (receiver.error_rate, receiver.error_status, receiver.latency_ms) == (0.1, 500, 0)
    receiver.refresh_from_db()
    assert (receiver.error_rate, receiver.error_status, receiver.latency_ms) == (0.1, 500, 0)


def test_database_refuses_an_error_rate_outside_0_to_1(make_receiver):
    receiver = make_receiver("erp")

    with pytest.raises(IntegrityError):
        SandboxReceiver.objects.filter(pk=receiver.pk).update(error_rate=1.5)


def test_repeats_of_a_key_keep_the_first_body_and_count_up(make_receiver):
    receiver = make_receiver("erp")

    first = record(receiver, "k", body=b'{"first": true}')
    repeat = record(receiver, "k", body=b'{"second": true}')

    assert (first.duplicate, repeat.duplicate) == (False, True)
    assert repeat.answer() == {**first.answer(), "duplicate": True}
    receipt = SandboxReceipt.objects.get()
    assert (receipt.body, receipt.times_received) == ('{"first": true}', 2)


def test_the_same_key_at_two_receivers_is_two_receipts(make_receiver):
    record(make_receiver("erp"), "k")
    record(make_receiver("tms"), "k")

    assert SandboxReceipt.objects.count() == 2


def test_event_type_and_id_come_from_a_structured_body_else_from_ce_headers(make_receiver):
    receiver = make_receiver("erp")

    structured = record(
        receiver,
        "a",
        body=cloudevent("evt-a", "shipment.dispatched"),
        content_type="application/cloudevents+json",
    )
    binary = record(receiver, "b", body=b'{"po": 1}', headers={"Ce-Type": "goods.received", "Ce-Id": "evt-b"})
    opaque = record(receiver, "c", body=b"\xff\x00 not json", content_type="text/plain")

    assert (structured.receipt.event_type, structured.receipt.event_id) == ("shipment.dispatched", "evt-a")
    assert (binary.receipt.event_type, binary.receipt.event_id) == ("goods.received", "evt-b")
    assert (opaque.receipt.event_type, opaque.receipt.event_id) == ("", "")
    assert opaque.receipt.body == "\ufffd\ufffd not json"


def test_credentials_and_signatures_are_redacted_from_recorded_headers(make_receiver):
    headers = {
        "Authorization": "Bearer secret",
        "Controltower-Signature": "t=1,v1=ab",
        "Cookie": "session=1",
        "Idempotency-Key": "k",
    }

    receipt = record(make_receiver("erp"), "k", headers=headers).receipt

    assert receipt.headers == {
        "Authorization": "[redacted]",
        "Controltower-Signature": "[redacted]",
        "Cookie": "[redacted]",
        "Idempotency-Key": "k",
    }


def test_receipts_list_in_arrival_order_or_newest_first_and_clearing_keeps_ids_growing(make_receiver):
    erp, tms = make_receiver("erp"), make_receiver("tms")
    record(tms, "other")
    for key in ("k3", "k1", "k2"):
        record(erp, key)
    record(erp, "k3")  # a repeat does not move a receipt

    assert [r.idempotency_key for r in sandbox_receipts_in_arrival_order(receiver=erp)] == ["k3", "k1", "k2"]
    assert [r.idempotency_key for r in sandbox_receipts_newest_first(receiver="erp")] == ["k2", "k1", "k3"]
    assert [r.idempotency_key for r in sandbox_receipts_newest_first(receiver=erp, idempotency_key="k1")] == [
        "k1"
    ]
    last_id = SandboxReceipt.objects.order_by("-id").first().pk  # erp's k2: cleared below

    assert sandbox_receipts_clear(receiver=erp) == 3
    record(erp, "after")

    assert [r.idempotency_key for r in sandbox_receipts_in_arrival_order(receiver="erp")] == ["after"]
    assert SandboxReceipt.objects.get(idempotency_key="after").pk > last_id
    assert SandboxReceipt.objects.filter(receiver=tms).count() == 1


def test_error_injection_follows_the_error_rate():
    random.seed(20261127)

    never = sum(error_injected(error_rate=0.0) for _ in range(10_000))
    always = sum(error_injected(error_rate=1.0) for _ in range(10_000))
    some = sum(error_injected(error_rate=0.3) for _ in range(10_000))

    assert (never, always) == (0, 10_000)
    assert 2_800 < some < 3_200


def test_receiver_path_is_where_the_receiver_answers():
    assert sandbox_receiver_path(code="erp") == "/sandbox/erp/"
