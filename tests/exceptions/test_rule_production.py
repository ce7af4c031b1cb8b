"""Production at risk: a shipment planned in time for a production order slips past its start
minus the buffer; quiet just inside the buffer; resolves itself when the material arrives."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exceptions.models import Case
from tests.exceptions.rule_events import NOW, asn, evaluate, iso, send

pytestmark = pytest.mark.django_db

START = NOW + timedelta(hours=4)


def _order() -> dict:
    return {
        "production_order": "1000231",
        "plant": "P-NORTH",
        "material": "FG-20011",
        "quantity": 250,
        "unit": "EA",
        "released_at": iso(NOW),
        "scheduled_start": iso(START),
        "components": [{"material": "RM-100271", "quantity": 250, "unit": "EA"}],
    }


def _milestone(name: str, **extra) -> dict:
    return {
        "shipment_id": "ASN-88123401",
        "milestone": name,
        "occurred_at": iso(NOW),
        "plant": "P-NORTH",
        **extra,
    }


@pytest.fixture
def planned(client, senders):
    """A shipment due 2 h before the order's start (buffer 60 min): on time, no case."""
    shipped = send(client, senders["portal"], "shipment.dispatched", asn(eta=START - timedelta(hours=2)))
    order = send(client, senders["erp"], "production_order.released", _order())
    evaluate(shipped, order)
    assert not Case.objects.exists()


def test_delay_past_start_minus_buffer_puts_the_order_at_risk(client, senders, planned):
    delayed = send(
        client,
        senders["tms"],
        "shipment.milestone",
        _milestone("delayed", estimated_arrival=iso(START - timedelta(minutes=30))),
    )
    assert evaluate(delayed).opened == 1
    case = Case.objects.get(kind=Case.Kind.PRODUCTION_AT_RISK)
    assert "Production order 1000231 at P-NORTH starts" in case.summary
    assert "needs RM-100271; shipment ASN-88123401 from S-ACME bringing it was due" in case.summary
    assert case.summary.endswith("— inside the buffer; buffer 60 min.")
    assert case.severity == Case.Severity.HIGH and case.evidence["shipment_id"] == "ASN-88123401"
    later = send(
        client,
        senders["tms"],
        "shipment.milestone",
        _milestone("delayed", estimated_arrival=iso(START + timedelta(hours=1))),
    )
    assert evaluate(later).folded == 1
    case.refresh_from_db()
    assert case.severity == Case.Severity.CRITICAL and "after the start" in case.summary
    arrived = send(client, senders["tms"], "shipment.milestone", _milestone("delivered"))
    assert evaluate(arrived).resolved == 1


def test_delay_just_inside_the_buffer_stays_quiet(client, senders, planned):
    delayed = send(
        client,
        senders["tms"],
        "shipment.milestone",
        _milestone("delayed", estimated_arrival=iso(START - timedelta(minutes=61))),
    )
    evaluate(delayed)
    assert not Case.objects.exists()
