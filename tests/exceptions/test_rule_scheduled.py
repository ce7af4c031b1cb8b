"""Milestone cases from the traces, and the scheduled rules: reconciliation of WMS receipts with
ERP postings, and a source system gone quiet against its rhythm."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controltower.traces.models import Trace
from controltower.traces.services.correlation import correlate_events
from exceptions.models import Case
from exceptions.rules import rules_scan
from integrations.models import Event
from tests.exceptions.rule_events import NOW, asn, confirmation, evaluate, iso, po, receipt, send

pytestmark = pytest.mark.django_db


def _trace_ids(*events: Event) -> set[int]:
    return correlate_events(event_ids=[e.pk for e in events])


def test_missing_confirmation_opens_a_case_and_the_confirmation_resolves_it(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    shipped = send(
        client,
        senders["portal"],
        "shipment.dispatched",
        asn(lines=(("4500012345", 10, "RM-100271", 500, "EA"),)),
    )
    evaluate(traces=_trace_ids(order, shipped))
    case = Case.objects.get(kind=Case.Kind.MISSING_MILESTONE)
    assert case.title == "PO 4500012345: Supplier confirmed is missing"
    assert "“Supplier confirmed” was never reported, although “Shipped (ASN)” happened" in case.summary
    assert case.trace == Trace.objects.get(root__key="4500012345")
    assert evaluate(traces=_trace_ids(order, shipped)).opened == 0  # the same trace again: nothing new
    confirmed = send(client, senders["portal"], "supplier.confirmation", confirmation())
    assert evaluate(traces=_trace_ids(confirmed)).resolved == 1
    case.refresh_from_db()
    assert case.state == Case.State.RESOLVED
    assert case.entries.first().comment == "The milestone arrived (or is no longer expected)."


def test_late_confirmation_is_a_late_milestone_until_it_arrives(client, senders):
    two_days_ago = NOW - timedelta(days=2)
    order = send(
        client,
        senders["erp"],
        "purchase_order.released",
        po() | {"released_at": iso(two_days_ago)},
        time=two_days_ago,
    )
    evaluate(traces=_trace_ids(order))
    case = Case.objects.get(kind=Case.Kind.LATE_MILESTONE)
    assert case.title == "PO 4500012345: Supplier confirmed is late"
    confirmed = send(client, senders["portal"], "supplier.confirmation", confirmation())
    assert evaluate(traces=_trace_ids(confirmed)).resolved == 1


def test_milestone_on_time_opens_nothing(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    evaluate(traces=_trace_ids(order))
    assert not Case.objects.exists()


def _posting(receipt_id="5000012345", status="posted") -> dict:
    data = {
        "transaction": "goods_receipt",
        "reference": receipt_id,
        "receipt_id": receipt_id,
        "status": status,
        "posted_at": iso(NOW),
        "plant": "P-NORTH",
    }
    if status == "posted":
        data["document_number"] = "5100012345"
    else:
        data["error"] = {"code": "M7/022", "message": "Quantity exceeds the purchase order quantity"}
    return data


def test_receipt_not_posted_within_grace_is_missing_in_the_erp_until_posted(client, senders):
    send(client, senders["wms"], "goods.received", receipt())
    now = timezone.now()
    assert rules_scan(now=now + timedelta(minutes=14)).opened == 0  # inside the 15 min grace
    send(client, senders["erp"], "erp.posting", _posting(status="failed"))
    assert rules_scan(now=now + timedelta(minutes=16)).opened == 1
    case = Case.objects.get(kind=Case.Kind.RECONCILIATION)
    assert case.title == "Goods receipt 5000012345 missing in the ERP"
    assert "the ERP has not posted it after 15 min. The ERP refused the posting: M7/022" in case.summary
    send(client, senders["erp"], "erp.posting", _posting())
    assert rules_scan(now=now + timedelta(minutes=17)).resolved == 1


def test_posting_without_a_wms_receipt_and_differing_quantities_are_reconciliation_cases(client, senders):
    send(client, senders["erp"], "erp.posting", _posting("5000099999"))
    send(client, senders["wms"], "goods.received", receipt(lines=(("RM-100271", 480, "EA"),)))
    send(
        client, senders["erp"], "goods.received", receipt(lines=(("RM-100271", 470, "EA"),))
    )  # the ERP's document
    rules_scan(now=timezone.now() + timedelta(minutes=16))
    titles = sorted(Case.objects.filter(kind=Case.Kind.RECONCILIATION).values_list("title", flat=True))
    assert titles == [
        "Goods receipt 5000012345: ERP and WMS quantities of RM-100271 differ",
        "Goods receipt 5000099999 posted in the ERP but missing in the WMS",
    ]
    differs = Case.objects.get(title__contains="differ")
    assert differs.summary.startswith(
        "The plant's WMS counted 480 EA of RM-100271 on goods receipt 5000012345; the ERP booked 470 EA."
    )


def test_system_quiet_for_far_longer_than_its_rhythm_opens_a_case_until_it_sends_again(client, senders):
    for n in range(12):
        send(client, senders["wms"], "goods.received", receipt(receipt_id=f"50001{n:05d}"))
    now = timezone.now()
    for n, event in enumerate(Event.objects.filter(system=senders["wms"].system).order_by("pk")):
        Event.objects.filter(pk=event.pk).update(received_at=now - timedelta(minutes=60 - 5 * n))
    quiet = rules_scan(now=now + timedelta(minutes=40))  # 45 min quiet, 50 allowed (10 × 5 min)
    assert "source_silent" not in quiet.kinds  # (the receipts' reconciliation cases are beside the point)
    assert rules_scan(now=now + timedelta(minutes=50)).kinds == {"source_silent": 1}
    case = Case.objects.get(kind=Case.Kind.SOURCE_SILENT)
    assert case.system == senders["wms"].system and case.plant.code == "P-NORTH"
    assert "usually sends a message every 5 min (12 in the last 6.0 h)" in case.summary
    send(client, senders["wms"], "goods.received", receipt(receipt_id="5000200000"))
    rules_scan()
    assert Case.objects.get(kind=Case.Kind.SOURCE_SILENT).state == Case.State.RESOLVED
