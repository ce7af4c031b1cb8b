"""Builders for the business-rule tests: canonical events posted through the real intake API
by a small network of senders (ERP, supplier portal, plant WMS, TMS, QMS)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from exceptions.rules import rules_follow
from integrations.models import Event, SourceSystem
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create
from tests.factories import Sender

_ids = itertools.count(1)
NOW = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def senders(plants, suppliers) -> dict[str, Sender]:
    def sender(code, kind, **links) -> Sender:
        system = system_upsert(code=code, name=code.title(), kind=kind, **links)
        return Sender(system, system_token_create(system=system)[1])

    return {
        "erp": sender("ERP-CLOUD", SourceSystem.Kind.ERP),
        "portal": sender("PORTAL-ACME", SourceSystem.Kind.SUPPLIER_PORTAL, supplier=suppliers["acme"]),
        "wms": sender("WMS-NORTH", SourceSystem.Kind.WMS, plant=plants["north"]),
        "tms": sender("TMS-CLOUD", SourceSystem.Kind.TMS),
        "qms": sender("QMS-CLOUD", SourceSystem.Kind.QMS),
    }


def send(client, sender: Sender, type_: str, data: dict, *, time: datetime | None = None) -> Event:
    """Post one CloudEvent (of business time `time`, default now) through intake; the stored event."""
    event_id = f"rule-{next(_ids)}"
    body = {
        "specversion": "1.0",
        "id": event_id,
        "source": sender.system.code,
        "type": type_,
        "time": iso(time or NOW),
        "datacontenttype": "application/json",
        "data": data,
    }
    response = client.post(
        "/api/v1/events",
        json.dumps(body),
        content_type="application/cloudevents+json",
        headers=sender.headers,
    )
    assert response.status_code in (200, 201, 202), response.content
    return Event.objects.get(source=sender.system.code, event_id=event_id)


def po(number="4500012345", lines=((10, "RM-100271", 500, "EA", "2030-03-21"),)) -> dict:
    return {
        "po_number": number,
        "supplier": "S-ACME",
        "plant": "P-NORTH",
        "released_at": iso(NOW),
        "lines": [
            {"line": n, "material": m, "quantity": q, "unit": u, "requested_date": d}
            for n, m, q, u, d in lines
        ],
    }


def po_change(number="4500012345", lines=((10, "RM-100271", 480, "EA", "2030-03-21"),), revision=2) -> dict:
    return {
        "po_number": number,
        "supplier": "S-ACME",
        "plant": "P-NORTH",
        "revision": revision,
        "changed_at": iso(NOW),
        "lines": [
            {"line": n, "material": m, "quantity": q, "unit": u, "requested_date": d, "action": "changed"}
            for n, m, q, u, d in lines
        ],
    }


def confirmation(
    number="4500012345", lines=((10, "RM-100271", "confirmed", 500, "EA", "2030-03-21", ""),)
) -> dict:
    return {
        "po_number": number,
        "supplier": "S-ACME",
        "plant": "P-NORTH",
        "confirmed_at": iso(NOW),
        "lines": [
            {"line": n, "material": m, "status": s, "quantity": q, "unit": u, "confirmed_date": d}
            | ({"reason": r} if r else {})
            for n, m, s, q, u, d, r in lines
        ],
    }


def asn(
    shipment="ASN-88123401", lines=(("4500012345", 10, "RM-100271", 480, "EA"),), eta=None, pos=None
) -> dict:
    data = {
        "shipment_id": shipment,
        "supplier": "S-ACME",
        "plant": "P-NORTH",
        "dispatched_at": iso(NOW),
        "estimated_arrival": iso(eta or NOW + timedelta(hours=6)),
        "lines": [
            {"line": i, "material": m, "quantity": q, "unit": u}
            | ({"po_number": p, "po_line": n} if n else {})
            for i, (p, n, m, q, u) in enumerate(lines, start=1)
        ],
    }
    if pos:
        data["purchase_orders"] = list(pos)
    return data


def receipt(receipt_id="5000012345", shipment="ASN-88123401", lines=(("RM-100271", 480, "EA"),)) -> dict:
    return {
        "receipt_id": receipt_id,
        "plant": "P-NORTH",
        "received_at": iso(NOW),
        "shipment_id": shipment,
        "supplier": "S-ACME",
        "lines": [
            {"line": i, "material": m, "quantity": q, "unit": u, "condition": "good"}
            for i, (m, q, u) in enumerate(lines, start=1)
        ],
    }


def evaluate(*events: Event, traces=()):
    """The rules, run by the real rules code on these events (as the task does)."""
    return rules_follow(event_ids=[e.pk for e in events], trace_ids=list(traces))
