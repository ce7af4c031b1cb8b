"""Reading events, systems, contracts and rejected messages, within scope."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from integrations.contracts import contract_types
from tests.conftest import PASSWORD
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def posted(client, network):
    north = post_events(client, network["erp"], po_released("4500000101", plant="P-NORTH")).json()
    south = post_events(client, network["erp"], po_released("4500000102", plant="P-SOUTH")).json()
    mes = post_events(
        client, network["mes_north"], po_released("4500000103", source="MES-NORTH", plant="P-NORTH")
    ).json()
    return {"north": north["event"], "south": south["event"], "mes": mes["event"]}


def test_events_filter_by_identifier_type_and_system(client, viewer, operator, posted):
    client.force_login(viewer)
    by_po = client.get("/api/v1/events", {"identifier": "purchase_order:4500000102"}).json()["results"]
    assert [e["pk"] for e in by_po] == [posted["south"]]
    by_system = client.get("/api/v1/events", {"system": "MES-NORTH"}).json()["results"]
    assert [e["pk"] for e in by_system] == [posted["mes"]]
    newest_first = client.get("/api/v1/events", {"type": "purchase_order.released"}).json()["results"]
    assert [e["pk"] for e in newest_first] == [posted["mes"], posted["south"], posted["north"]]
    client.force_login(operator)  # payloads need view_payloads
    detail = client.get(f"/api/v1/events/{posted['south']}").json()
    assert detail["cloudevent"]["data"]["po_number"] == "4500000102"


def test_bad_filter_value_is_a_problem_naming_the_parameter(client, viewer, posted):
    client.force_login(viewer)
    response = client.get("/api/v1/events", {"identifier": "no-colon", "received_after": "soon"})
    assert response.status_code == 400
    assert {e["pointer"] for e in response.json()["errors"]} == {"/identifier", "/received_after"}


def test_plant_scoped_user_sees_only_its_plants_events(client, make_user, plants, posted):
    make_user("northy", Role.VIEWER, everything=False, plants=[plants["north"]])
    client.login(username="northy", password=PASSWORD)
    seen = {e["pk"] for e in client.get("/api/v1/events").json()["results"]}
    assert seen == {posted["north"], posted["mes"]}
    assert client.get(f"/api/v1/events/{posted['south']}").status_code == 404


def test_system_token_sees_only_its_own_systems_events(client, network, posted):
    seen = client.get("/api/v1/events", headers=network["mes_north"].headers).json()["results"]
    assert [e["pk"] for e in seen] == [posted["mes"]]
    systems = client.get("/api/v1/systems", headers=network["mes_north"].headers).json()
    assert [s["code"] for s in systems] == ["MES-NORTH"]


def test_systems_list_shows_kind_links_and_sources(client, viewer, network):
    client.force_login(viewer)
    systems = {s["code"]: s for s in client.get("/api/v1/systems").json()}
    assert systems["PORTAL-ACME"]["supplier"] == "S-ACME"
    assert systems["PORTAL-ACME"]["sources"] == ["PORTAL-ACME"]
    assert systems["MES-NORTH"]["kind"] == "mes"


def test_contract_catalog_lists_every_type_with_schema_example_and_identifiers(client, viewer):
    client.force_login(viewer)
    catalog = client.get("/api/v1/contracts").json()
    assert {c["type"] for c in catalog} == set(contract_types())
    asn = next(c for c in catalog if c["type"] == "shipment.dispatched")
    assert asn["latest"] and asn["dataschema"] == "urn:controltower:contract:shipment.dispatched:v1"
    assert {"kind": "shipment", "pointer": "/shipment_id", "prefix_pointer": None} in asn["identifiers"]
    assert asn["business_time"] == "/dispatched_at"
    assert client.get("/api/v1/contracts/goods.received").json()[0]["version"] == 1
    assert client.get("/api/v1/contracts/nothing.here").status_code == 404


def test_rejected_messages_are_visible_with_their_raw_body(client, operator, network):
    post_events(client, network["acme"], b'{"broken": ', content_type="application/cloudevents+json")
    client.force_login(operator)
    listed = client.get("/api/v1/rejected-messages").json()["results"]
    assert listed[0]["body"] == '{"broken": ' and listed[0]["system"] == "PORTAL-ACME"
    assert listed[0]["errors"][0]["pointer"] == ""
    assert (
        client.get(f"/api/v1/rejected-messages/{listed[0]['id']}").json()["problem_type"]
        == "malformed-request"
    )


def test_supplier_scoped_user_sees_its_suppliers_rejections_only(client, make_user, suppliers, network):
    post_events(client, network["acme"], b"{", content_type="application/cloudevents+json")
    post_events(client, network["erp"], b"{", content_type="application/cloudevents+json")
    make_user("acme-viewer", Role.VIEWER, everything=False, suppliers=[suppliers["acme"]])
    client.login(username="acme-viewer", password=PASSWORD)
    listed = client.get("/api/v1/rejected-messages").json()["results"]
    assert [r["system"] for r in listed] == ["PORTAL-ACME"]
