"""EPCIS 2.0 capture over HTTP: capture jobs, all-or-nothing by default, bad events kept."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from django.test import Client

from controltower.accounts.roles import Role
from controltower.masterdata.services import plant_upsert, supplier_upsert
from integrations.adapters.epcis import gs1
from integrations.delivery.models import Delivery
from integrations.models import CaptureJob, Event, EventIdentifier, RejectedMessage
from integrations.services.network import system_upsert
from integrations.services.tokens import system_token_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "epcis"
CAPTURE = "/api/v1/epcis/capture"
#: The ship-to location of supplier_shipping.jsonld's event, and its GLN.
SHIP_TO = "urn:epc:id:sgln:0614141.00777.0"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_capture_answers_202_with_the_location_of_its_finished_job(portal):
    response = portal(fixture("supplier_shipping.jsonld"))
    assert response.status_code == 202, response.json()
    assert response["GS1-EPCIS-Version"] == "2.0" and response["GS1-CBV-Version"] == "2.0"
    job = response.json()
    assert (job["running"], job["success"], job["errors"], job["captureErrorBehaviour"]) == (
        False,
        True,
        [],
        "rollback",
    )
    assert response["Location"].endswith(f"{CAPTURE}/{job['captureID']}")
    token = response.wsgi_request.headers["Authorization"]
    again = Client().get(response["Location"], headers={"Authorization": token})
    assert again.status_code == 200 and again.json()["captureID"] == job["captureID"]
    assert again["GS1-EPCIS-Version"] == "2.0" and again["GS1-Capture-Error-Behaviour"] == "rollback"


def test_shipping_event_becomes_an_asn_with_its_purchase_orders(portal):
    body = portal(fixture("supplier_shipping.jsonld")).json()
    assert body["rejected"] == 0 and body["accepted"] >= 1
    asn = Event.objects.get(type="shipment.dispatched")
    assert asn.mode == "epcis" and asn.source == "PORTAL-ACME"
    kinds = set(EventIdentifier.objects.filter(event=asn).values_list("kind", flat=True))
    assert {"purchase_order", "shipment"} <= kinds


def test_reposting_the_same_document_is_idempotent(portal):
    first = portal(fixture("supplier_shipping.jsonld")).json()
    again = portal(fixture("supplier_shipping.jsonld")).json()
    assert again["accepted"] == 0 and again["duplicate"] == first["accepted"] and again["success"]
    assert Event.objects.count() == first["accepted"]


def test_one_bad_event_refuses_the_whole_document_and_stores_none_of_it(portal):
    response = portal(fixture("one_bad_bizstep.jsonld"))
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert [e["pointer"] for e in problem["errors"]] == ["/epcisBody/eventList/1/bizStep"]
    assert Event.objects.count() == 0 and Delivery.objects.count() == 0 and CaptureJob.objects.count() == 0
    kept = RejectedMessage.objects.get(pk=problem["rejected_message"])
    assert json.loads(kept.body_text) == fixture("one_bad_bizstep.jsonld")  # the whole document


def test_proceed_stores_the_valid_events_and_keeps_the_bad_one(portal):
    response = portal(fixture("one_bad_bizstep.jsonld"), headers={"GS1-Capture-Error-Behaviour": "proceed"})
    assert response.status_code == 202
    job = response.json()
    assert job["success"] is False and job["captureErrorBehaviour"] == "proceed"
    assert job["rejected"] == 1 and job["accepted"] == 3 == Event.objects.count()
    (error,) = job["errors"]
    assert error["type"] == "epcisException:ValidationException" and error["status"] == 400
    assert error["errors"][0]["pointer"] == "/epcisBody/eventList/1/bizStep"
    kept = RejectedMessage.objects.get(pk=error["rejected_message"])
    assert json.loads(kept.body_text)["bizStep"] == "shipped"


def event_changed(**changes) -> dict:
    """supplier_shipping.jsonld with its event changed (a None value removes the field)."""
    document = copy.deepcopy(fixture("supplier_shipping.jsonld"))
    event = {**document["epcisBody"]["eventList"][0], **changes}
    document["epcisBody"]["eventList"][0] = {k: v for k, v in event.items() if v is not None}
    return document


def without_context() -> dict:
    document = fixture("supplier_shipping.jsonld")
    del document["@context"]
    return document


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        (without_context(), "/@context"),
        (
            event_changed(certificationInfo=[{"acme:agency": "TÜV"}]),
            "/epcisBody/eventList/0/certificationInfo",
        ),
        (
            event_changed(quantityList=[{"epcClass": "urn:epc:class:lgtin:4012345.088888.L1", "weight": 3}]),
            "/epcisBody/eventList/0/quantityList/0/weight",
        ),
        (event_changed(eventTimeZoneOffset=None), "/epcisBody/eventList/0/eventTimeZoneOffset"),
    ],
    ids=["no-context", "certification-info", "unknown-quantity-field", "no-time-zone-offset"],
)
def test_documents_the_epcis_structure_refuses_are_refused_and_nothing_stored(portal, document, pointer):
    response = portal(document)
    assert response.status_code == 400, response.json()
    assert pointer in [e["pointer"] for e in response.json()["errors"]]
    assert Event.objects.count() == 0


def test_an_intake_refusal_rolls_back_the_events_already_stored(system_poster, suppliers, plants):
    """A system without a plant names the plant by GLN: one event names an unregistered GLN."""
    plant_upsert(code="P-NORTH", gln=gs1.gln(SHIP_TO))
    system = system_upsert(
        code="PORTAL-ACME-EU", name="Acme EU portal", kind="supplier_portal", supplier=suppliers["acme"]
    )
    token = system_token_create(system=system)[1]
    document = fixture("supplier_shipping.jsonld")
    second = copy.deepcopy(document["epcisBody"]["eventList"][0])
    second["eventID"] = "urn:uuid:6f1c1f6e-2b0a-4c43-9d1e-3f3c9a2b7e11"
    second["destinationList"] = [{"type": "location", "destination": "urn:epc:id:sgln:4999999.00001.0"}]
    document["epcisBody"]["eventList"].append(second)
    response = system_poster(document, token=token)
    assert response.status_code == 400, response.json()
    assert response.json()["errors"][0]["pointer"] == "/epcisBody/eventList/1/data/plant"
    assert Event.objects.count() == 0 and Delivery.objects.count() == 0
    assert (
        system_poster(document, token=token, headers={"GS1-Capture-Error-Behaviour": "proceed"}).json()[
            "accepted"
        ]
        == 1
    )


QUERY_EVENTS = "/epcisBody/queryResults/resultsBody/eventList"


def test_a_query_document_is_captured_like_a_capture_document(portal):
    """An EPCISQueryDocument (a repository's answer to a query or subscription) carries its
    events under epcisBody.queryResults.resultsBody.eventList: they are captured alike."""
    response = portal(fixture("query_results_from_subscription.jsonld"))
    assert response.status_code == 202, response.json()
    job = response.json()
    assert job["success"] and job["accepted"] == 2 == Event.objects.filter(mode="epcis").count()
    assert set(Event.objects.values_list("type", flat=True)) == {"shipment.dispatched", "shipment.milestone"}
    asn = Event.objects.get(type="shipment.dispatched")
    assert asn.event_id == "urn:uuid:0d3b7a52-6e4f-4f0e-8f7b-1c2d3e4f5a60"
    assert ("purchase_order", "4500012777") in set(
        EventIdentifier.objects.filter(event=asn).values_list("kind", "value")
    )
    again = portal(fixture("query_results_from_subscription.jsonld")).json()
    assert again["duplicate"] == 2 and Event.objects.count() == 2  # re-posting is idempotent


def _query_document_with_a_bad_second_event() -> dict:
    document = fixture("query_results_from_subscription.jsonld")
    document["epcisBody"]["queryResults"]["resultsBody"]["eventList"][1]["bizStep"] = "shipped"
    return document


def test_a_bad_event_in_a_query_document_refuses_it_whole_naming_the_event(portal):
    response = portal(_query_document_with_a_bad_second_event())
    assert response.status_code == 400, response.json()
    assert [e["pointer"] for e in response.json()["errors"]] == [f"{QUERY_EVENTS}/1/bizStep"]
    assert Event.objects.count() == 0


def test_proceed_stores_a_query_documents_valid_events_and_keeps_the_bad_one(portal):
    response = portal(
        _query_document_with_a_bad_second_event(), headers={"GS1-Capture-Error-Behaviour": "proceed"}
    )
    job = response.json()
    assert (job["accepted"], job["rejected"]) == (1, 1)
    kept = RejectedMessage.objects.get(pk=job["errors"][0]["rejected_message"])
    assert json.loads(kept.body_text)["bizStep"] == "shipped"  # the event itself, not the document


def test_a_query_document_without_its_results_is_refused_whole(portal):
    document = fixture("query_results_from_subscription.jsonld")
    del document["epcisBody"]["queryResults"]["resultsBody"]
    response = portal(document)
    assert response.status_code == 400
    assert [e["pointer"] for e in response.json()["errors"]] == ["/epcisBody/queryResults/resultsBody"]
    assert Event.objects.count() == 0 and RejectedMessage.objects.count() == 1


def test_a_query_document_over_the_capture_limit_is_refused(portal, settings):
    settings.INTAKE_MAX_BATCH_EVENTS = 1
    response = portal(fixture("query_results_from_subscription.jsonld"))
    assert response.status_code == 413 and response.json()["errors"][0]["pointer"] == QUERY_EVENTS
    assert Event.objects.count() == 0


def test_receiving_in_urn_form_becomes_goods_received(portal):
    assert portal(fixture("receiving_urn_form.json"), content_type="application/json").status_code == 202
    assert Event.objects.filter(type="goods.received").exists()


def test_not_an_epcis_document_is_a_problem_and_kept(portal):
    response = portal({"type": "Invoice", "lines": []})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert RejectedMessage.objects.filter(pk=response.json()["rejected_message"]).exists()
    assert portal(b"<EPCISDocument/>", content_type="application/xml").status_code == 415


@pytest.mark.parametrize(
    "headers",
    [
        {"GS1-EPCIS-Version": "1.2"},
        {"GS1-CBV-Version": "2.1"},
        {"GS1-EPCIS-Min": "2.1"},
        {"GS1-EPCIS-Version": "x"},
    ],
)
def test_versions_other_than_2_0_are_not_acceptable(portal, headers):
    response = portal(fixture("supplier_shipping.jsonld"), headers=headers)
    assert response.status_code == 406 and response["GS1-EPCIS-Version"] == "2.0"
    assert next(iter(headers)) in response.json()["detail"]
    assert Event.objects.count() == 0


def test_version_2_0_headers_are_accepted(portal):
    headers = {"GS1-EPCIS-Version": "2.0", "GS1-CBV-Version": "2.0", "GS1-EPCIS-Max": "2.0.0"}
    assert portal(fixture("supplier_shipping.jsonld"), headers=headers).status_code == 202


def test_an_unknown_capture_error_behaviour_is_refused(portal):
    response = portal(fixture("supplier_shipping.jsonld"), headers={"GS1-Capture-Error-Behaviour": "maybe"})
    assert response.status_code == 400 and "GS1-Capture-Error-Behaviour" in response.json()["detail"]
    assert Event.objects.count() == 0


def test_a_document_over_the_capture_limit_is_refused(portal, settings):
    settings.INTAKE_MAX_BATCH_EVENTS = 2
    response = portal(fixture("one_bad_bizstep.jsonld"))
    assert response.status_code == 413 and response.json()["errors"][0]["pointer"] == "/epcisBody/eventList"
    options = Client().options(CAPTURE, headers=response.wsgi_request.headers)
    assert options["GS1-EPCIS-Capture-Limit"] == "2" and options["GS1-Capture-Error-Behaviour"] == "rollback"


def test_a_capture_job_is_read_only_by_its_system_and_people_in_scope(portal, plants, suppliers, make_user):
    location = portal(fixture("supplier_shipping.jsonld"))["Location"]
    other = system_upsert(code="MES-SOUTH", name="South MES", kind="mes", plant=plants["south"])
    other_token = system_token_create(system=other)[1]
    assert Client().get(location, headers=bearer(other_token)).status_code == 404
    assert Client().get(CAPTURE, headers=bearer(other_token)).json()["results"] == []
    readers = {
        "north": make_user("nora", Role.VIEWER, everything=False, plants=[plants["north"]]),
        "south": make_user("sam", Role.VIEWER, everything=False, plants=[plants["south"]]),
        "acme": make_user("ada", Role.VIEWER, everything=False, suppliers=[suppliers["acme"]]),
    }
    seen = {}
    for name, user in readers.items():
        reader = Client()
        reader.force_login(user)
        seen[name] = reader.get(location).status_code
    assert seen == {"north": 200, "south": 404, "acme": 200}


# --- an event naming another plant than the posting system's ------------------------------------


@pytest.fixture
def mes_north(plants):
    """Plant P-NORTH's MES; plant P-SOUTH is registered with the GLN of the fixture's ship-to."""
    plant_upsert(code="P-SOUTH", gln=gs1.gln(SHIP_TO))
    system = system_upsert(code="MES-NORTH", name="North MES", kind="mes", plant=plants["north"])
    return system_token_create(system=system)[1]


def test_an_event_sent_to_another_plant_is_refused_naming_the_destination(system_poster, mes_north):
    response = system_poster(fixture("supplier_shipping.jsonld"), token=mes_north)
    assert response.status_code == 403, response.json()
    (error,) = response.json()["errors"]
    assert error["pointer"] == "/epcisBody/eventList/0/destinationList/1/destination"
    assert "P-SOUTH" in error["detail"] and "MES-NORTH" in error["detail"]
    assert Event.objects.count() == 0  # never filed under the sender's plant P-NORTH


def test_an_event_of_a_query_document_sent_to_another_plant_is_refused(system_poster, mes_north):
    document = fixture("query_results_from_subscription.jsonld")
    document["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]["destinationList"] = [
        {"type": "location", "destination": SHIP_TO}
    ]
    response = system_poster(document, token=mes_north)
    assert response.status_code in (400, 403), response.json()  # (a MES names no supplier either)
    pointers = {e["pointer"]: e["detail"] for e in response.json()["errors"]}
    destination = "/epcisBody/queryResults/resultsBody/eventList/0/destinationList/0/destination"
    assert "P-SOUTH" in pointers[destination]
    assert Event.objects.count() == 0


def test_an_event_at_another_plants_location_is_refused(system_poster, mes_north):
    document = event_changed(destinationList=None, bizLocation={"id": SHIP_TO})
    response = system_poster(document, token=mes_north, headers={"GS1-Capture-Error-Behaviour": "proceed"})
    assert response.status_code == 202 and response.json()["rejected"] == 1
    assert response.json()["errors"][0]["errors"][0]["pointer"] == "/epcisBody/eventList/0/bizLocation/id"
    assert Event.objects.count() == 0


def test_an_event_at_the_senders_own_plant_is_stored_under_it(system_poster, mes_north, plants, suppliers):
    plant_upsert(code="P-SOUTH", gln="")
    plant_upsert(code="P-NORTH", gln=gs1.gln(SHIP_TO))
    supplier_upsert(code="S-ACME", gln=gs1.gln("urn:epc:id:pgln:4012345.00000"))  # the event's source
    response = system_poster(fixture("supplier_shipping.jsonld"), token=mes_north)
    assert response.status_code == 202, response.json()
    assert {e.plant_id for e in Event.objects.all()} == {plants["north"].pk}


def test_capture_jobs_are_shown_read_only_in_the_admin(portal, admin_client):
    job = CaptureJob.objects.get(capture_id=portal(fixture("supplier_shipping.jsonld")).json()["captureID"])
    assert str(job.capture_id) in admin_client.get("/admin/integrations/capturejob/").content.decode()
    page = admin_client.get(f"/admin/integrations/capturejob/{job.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.get("/admin/integrations/capturejob/add/").status_code == 403


# --- a document refused whole is kept where the people it concerns see it --------------------------


@pytest.fixture
def north_viewer(plants, make_user):
    """A viewer of plant P-NORTH only; P-NORTH's ship-to location is the fixture's SHIP_TO."""
    plant_upsert(code="P-NORTH", gln=gs1.gln(SHIP_TO))
    make_user("north-viewer", Role.VIEWER, everything=False, plants=[plants["north"]])
    client = Client()
    client.login(username="north-viewer", password=PASSWORD)
    return client


def _sees(client: Client, rejected_pk: int) -> bool:
    listed = [r["id"] for r in client.get("/api/v1/rejected-messages").json()["results"]]
    on_page = f"/rejected/{rejected_pk}/" in client.get("/rejected/").content.decode()
    detail = client.get(f"/api/v1/rejected-messages/{rejected_pk}").status_code
    assert (rejected_pk in listed) == on_page == (detail == 200)
    return on_page


def test_a_document_refused_whole_is_seen_by_the_plant_its_events_go_to(
    system_poster, network, north_viewer, plants, make_user
):
    """The ERP serves every plant, so the system names none: the refused document is kept under
    the one plant its events name (here by the GLN of the ship-to location)."""
    response = system_poster(event_changed(bizStep="shipped"), token=network["erp"].token)
    assert response.status_code == 400, response.json()
    rejected = response.json()["rejected_message"]
    assert _sees(north_viewer, rejected)
    make_user("south-viewer", Role.VIEWER, everything=False, plants=[plants["south"]])
    south = Client()
    south.login(username="south-viewer", password=PASSWORD)
    assert not _sees(south, rejected)


def test_a_refused_document_naming_two_plants_is_kept_under_neither(system_poster, network, north_viewer):
    south_dock = "urn:epc:id:sgln:0614141.00001.0"
    plant_upsert(code="P-SOUTH", gln=gs1.gln(south_dock))
    document = event_changed(bizStep="shipped", readPoint={"id": south_dock})
    response = system_poster(document, token=network["erp"].token)
    assert response.status_code == 400, response.json()
    assert not _sees(north_viewer, response.json()["rejected_message"])  # it holds P-SOUTH's event too


def test_a_document_refused_by_a_plants_own_system_is_kept_under_that_plant(
    system_poster, network, north_viewer
):
    response = system_poster(b'{"type": "Invoice"}', token=network["mes_north"].token)
    assert response.status_code == 400
    assert _sees(north_viewer, response.json()["rejected_message"])
