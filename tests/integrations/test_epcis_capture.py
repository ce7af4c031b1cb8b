"""EPCIS 2.0 capture over HTTP: mapped to canonical events, stored once, bad events kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controltower.masterdata.services import plant_upsert
from integrations.models import Event, EventIdentifier, RejectedMessage
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "epcis"


@pytest.fixture
def portal(client, suppliers):
    """The ACME supplier portal, shipping to plant P-NORTH via a system bound to both."""
    plant = plant_upsert(code="P-NORTH", name="North", time_zone="Europe/Berlin")
    system = system_upsert(
        code="PORTAL-ACME",
        name="Acme portal",
        kind="supplier_portal",
        supplier=suppliers["acme"],
        plant=plant,
    )
    token = system_token_create(system=system)[1]

    def post(body, content_type="application/ld+json"):
        data = body if isinstance(body, bytes) else json.dumps(body)
        return client.post(
            "/api/v1/epcis/capture",
            data,
            content_type=content_type,
            headers={"Authorization": f"Bearer {token}"},
        )

    return post


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_shipping_event_becomes_an_asn_with_its_purchase_orders(portal):
    response = portal(fixture("supplier_shipping.jsonld"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["rejected"] == 0 and body["accepted"] >= 1
    asn = Event.objects.get(type="shipment.dispatched")
    assert asn.mode == "epcis" and asn.source == "PORTAL-ACME"
    kinds = set(EventIdentifier.objects.filter(event=asn).values_list("kind", flat=True))
    assert {"purchase_order", "shipment"} <= kinds


def test_reposting_the_same_document_is_idempotent(portal):
    first = portal(fixture("supplier_shipping.jsonld")).json()
    again = portal(fixture("supplier_shipping.jsonld")).json()
    assert again["accepted"] == 0 and again["duplicate"] == first["accepted"]
    assert Event.objects.count() == first["accepted"]


def test_one_bad_bizstep_is_refused_and_kept_while_the_others_are_stored(portal):
    response = portal(fixture("one_bad_bizstep.jsonld")).json()
    rejected = [r for r in response["results"] if r["status"] == "rejected"]
    assert len(rejected) == 1 and response["accepted"] >= 1
    assert rejected[0]["errors"][0]["pointer"].startswith("/epcisBody/eventList/1")
    kept = RejectedMessage.objects.get(pk=rejected[0]["rejected_message"])
    assert json.loads(kept.body_text)["bizStep"] == "shipped"


def test_receiving_in_urn_form_becomes_goods_received(portal):
    assert portal(fixture("receiving_urn_form.json"), content_type="application/json").status_code == 200
    assert Event.objects.filter(type="goods.received").exists()


def test_not_an_epcis_document_is_a_problem_and_kept(portal):
    response = portal({"type": "Invoice", "lines": []})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert RejectedMessage.objects.filter(pk=response.json()["rejected_message"]).exists()
    assert portal(b"<EPCISDocument/>", content_type="application/xml").status_code == 415
