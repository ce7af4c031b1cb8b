"""GS1 EPCIS 2.0 capture documents mapped to canonical events (integrations.adapters.epcis).

Own fixtures live in fixtures/epcis/. Conformance tests read GS1's and openEPCIS's published
examples from the shared standards folder beside the repository (never copied into it) and
skip when it is absent.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.adapters.epcis import (
    CaptureResult,
    MappedEvent,
    epcis_capture_map,
    gs1,
)
from integrations.adapters.epcis.reading import utc_time
from integrations.adapters.epcis.vocabulary import BIZ_STEPS, DISPOSITIONS, cbv_term
from integrations.contracts import FieldError, contract_get, extract_identifiers, validate_data

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "epcis"
# The shared standards folder beside the repository; EPCIS_STANDARDS_DIR names it elsewhere (a worktree).
SHARED = Path(
    os.environ.get("EPCIS_STANDARDS_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "standards" / "epcis"
)
CODES = {"plant": "DE10", "supplier": "SUP-20417"}
EVENT_0 = "/epcisBody/eventList/0"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def assert_valid(result: CaptureResult) -> None:
    """Every emitted event validates against its contract, is strict JSON and has a UTC 'Z' time."""
    for mapped in [*result.events, *result.telemetry]:
        assert validate_data(contract_get(mapped.type), mapped.data) == [], mapped
        json.dumps(mapped.data, allow_nan=False)  # strict JSON: storable as is
        assert mapped.time.endswith("Z") and utc_time(mapped.time) == mapped.time


def identifiers(mapped: MappedEvent) -> list[tuple[str, str]]:
    return extract_identifiers(contract_get(mapped.type), mapped.data)


def single(result: CaptureResult) -> MappedEvent:
    assert result.errors == [] and len(result.events) == 1 and result.telemetry == []
    return result.events[0]


def document(*events: dict) -> dict:
    return {"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": list(events)}}


def shipping_event(**changes: object) -> dict:
    event = copy.deepcopy(fixture("supplier_shipping.jsonld")["epcisBody"]["eventList"][0])
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


# --- own fixtures: what maps to what -------------------------------------------------------


def test_supplier_shipping_event_becomes_shipment_dispatched():
    result = epcis_capture_map(fixture("supplier_shipping.jsonld"), **CODES)
    assert_valid(result)
    mapped = single(result)
    assert (mapped.type, mapped.pointer, mapped.epcis_type, mapped.biz_step) == (
        "shipment.dispatched",
        EVENT_0,
        "ObjectEvent",
        "shipping",
    )
    assert mapped.id == "urn:uuid:6f1c1f6e-2b0a-4c43-9d1e-3f3c9a2b7e10"
    assert mapped.time == "2025-03-19T14:30:00Z"  # +01:00 normalised to UTC
    data = mapped.data
    assert data["shipment_id"] == "ASN-88123401"  # desadv
    assert data["tracking_number"] == "JJD000390007412345"  # bol
    assert data["purchase_orders"] == ["4500012345", "4500012391"]  # URN and URL forms
    assert (data["plant"], data["supplier"], data["dispatched_at"]) == ("DE10", "SUP-20417", mapped.time)
    assert "carrier" not in data and data["package_count"] == 1  # one SSCC in the epcList
    assert data["lines"] == [
        {"line": 1, "material": "04012345888881", "quantity": 500, "unit": "KGM", "lot": "L25-0317-A"},
        {"line": 2, "material": "04012345777772", "quantity": 120, "unit": "EA"},
        {"line": 3, "material": "04012345123456", "quantity": 3, "unit": "EA"},  # three SGTINs
    ]
    assert data["extensions"]["epcis"]["readPoint"] == "urn:epc:id:sgln:4012345.00011.0"
    assert data["extensions"]["epcis"]["disposition"] == "in_transit"


def test_shipping_identifiers_link_purchase_orders_shipment_and_materials():
    mapped = single(epcis_capture_map(fixture("supplier_shipping.jsonld"), **CODES))
    ids = identifiers(mapped)
    assert [v for k, v in ids if k == "purchase_order"] == ["4500012345", "4500012391"]
    assert ("shipment", "ASN-88123401") in ids
    assert ("tracking_number", "JJD000390007412345") in ids
    assert ("plant", "DE10") in ids and ("supplier", "SUP-20417") in ids
    assert ("lot", "L25-0317-A") in ids
    assert [v for k, v in ids if k == "material"] == ["04012345888881", "04012345777772", "04012345123456"]


def test_aggregation_of_pallets_gives_picked_up_and_arrived_milestones():
    result = epcis_capture_map(fixture("pallets_in_transit.jsonld"), **CODES)
    assert_valid(result)
    assert result.errors == []
    departed, arrived = result.events
    assert (departed.type, departed.data["milestone"], departed.biz_step) == (
        "shipment.milestone",
        "picked_up",
        "departing",
    )
    assert (arrived.type, arrived.data["milestone"], arrived.biz_step) == (
        "shipment.milestone",
        "arrived",
        "arriving",
    )
    assert departed.data["tracking_number"] == "JJD000390007412345"
    assert arrived.data["shipment_id"] == departed.data["shipment_id"] == "ASN-88123401"
    assert arrived.time == arrived.data["occurred_at"] == "2025-03-21T05:12:45.250Z"
    assert ("shipment", "ASN-88123401") in identifiers(arrived)
    assert arrived.data["extensions"]["epcis"]["parentID"] == "urn:epc:id:sscc:4012345.0000012347"


def test_arriving_pallet_without_any_shipment_reference_is_kept_as_telemetry():
    result = epcis_capture_map(fixture("pallets_in_transit.jsonld"), **CODES)
    (kept,) = result.telemetry
    assert (kept.pointer, kept.type, kept.biz_step) == (
        "/epcisBody/eventList/2",
        "integration.telemetry",
        "arriving",
    )
    assert "no shipment reference" in kept.data["extensions"]["epcis"]["notes"][-1]


def test_receiving_in_urn_form_becomes_goods_received():
    result = epcis_capture_map(fixture("receiving_urn_form.json"), **CODES)
    assert_valid(result)
    mapped = single(result)
    assert (mapped.type, mapped.biz_step) == ("goods.received", "receiving")
    data = mapped.data
    assert data["receipt_id"] == "GR-DE10-250321-0042"  # recadv
    assert data["shipment_id"] == "ASN-88123401"  # desadv in urn:epcglobal:cbv:btt form
    assert data["purchase_orders"] == ["4500012345"]
    # exactly one PO, so each line names it; the Digital Link gives GTIN and lot; same class merges
    assert data["lines"] == [
        {
            "line": 1,
            "material": "04012345000016",
            "quantity": 25,
            "unit": "EA",
            "po_number": "4500012345",
            "condition": "damaged",
            "lot": "L25-0318-G",
        },
    ]
    assert mapped.data["extensions"]["epcis"]["disposition"] == "damaged"
    ids = identifiers(mapped)
    assert ("goods_receipt", "GR-DE10-250321-0042") in ids
    assert ("purchase_order", "4500012345") in ids and ("shipment", "ASN-88123401") in ids


def test_one_bad_bizstep_rejects_only_that_event():
    result = epcis_capture_map(fixture("one_bad_bizstep.jsonld"), **CODES)
    assert_valid(result)
    assert result.errors == [
        FieldError(
            "/epcisBody/eventList/1/bizStep",
            "'shipped' is not a CBV business step (expected e.g. shipping or urn:epcglobal:cbv:bizstep:shipping)",
        )
    ]
    assert [(m.pointer, m.type) for m in result.events] == [
        (EVENT_0, "shipment.dispatched"),
        ("/epcisBody/eventList/3", "goods.received"),
    ]
    # a user-vocabulary bizStep (absolute non-GS1 URI) is valid EPCIS: kept as telemetry
    (kept,) = result.telemetry
    assert kept.pointer == "/epcisBody/eventList/2"
    assert kept.biz_step == "https://ns.acme-components.example/bizstep/label_printing"


def test_transformation_event_is_kept_as_telemetry_with_its_references():
    result = epcis_capture_map(fixture("transformation.jsonld"), **CODES)
    assert_valid(result)
    assert result.events == [] and result.errors == []
    (kept,) = result.telemetry
    assert kept.type == "integration.telemetry" and kept.epcis_type == "TransformationEvent"
    data = kept.data
    assert (data["message_id"], data["hop"], data["status"]) == (kept.id, "epcis", "received")
    assert data["occurred_at"] == kept.time == "2025-03-22T08:45:00Z"
    assert (data["po_number"], data["production_order"]) == ("4500012345", "1000231")
    assert ("message", "urn:uuid:9b2e7c1a-5d4f-4e3b-a2c1-7f6e5d4c3b2a") in identifiers(kept)


def test_event_with_error_declaration_is_telemetry_with_a_note():
    event = shipping_event(
        errorDeclaration={"declarationTime": "2025-03-20T08:00:00Z", "reason": "incorrect_data"}
    )
    result = epcis_capture_map(document(event), **CODES)
    assert_valid(result)
    (kept,) = result.telemetry
    assert result.events == [] and result.errors == []
    assert kept.data["extensions"]["epcis"]["errorDeclaration"]["reason"] == "incorrect_data"
    assert "errorDeclaration" in kept.data["extensions"]["epcis"]["notes"][-1]
    assert kept.data["shipment_id"] == "ASN-88123401" and kept.data["po_number"] == "4500012345"


def test_delete_action_is_not_a_business_fact():
    result = epcis_capture_map(document(shipping_event(action="DELETE")), **CODES)
    assert result.events == [] and len(result.telemetry) == 1


def test_a_single_event_can_be_posted_without_a_document():
    result = epcis_capture_map(shipping_event(), **CODES)
    assert single(result).pointer == ""
    bad = epcis_capture_map(shipping_event(bizStep="shipped"), **CODES)
    assert [e.pointer for e in bad.errors] == ["/bizStep"]


# --- plant and supplier ---------------------------------------------------------------------


def test_without_calling_system_codes_the_glns_of_destination_and_source_stand_in():
    mapped = single(epcis_capture_map(fixture("supplier_shipping.jsonld")))
    assert mapped.data["plant"] == gs1.gln("urn:epc:id:sgln:0614141.00777.0") == "0614141007776"
    assert mapped.data["supplier"] == gs1.gln("urn:epc:id:pgln:4012345.00000") == "4012345000009"


def test_receiving_uses_the_business_location_as_plant_when_nothing_else_names_it():
    event = fixture("receiving_urn_form.json")["epcisBody"]["eventList"][0]
    mapped = single(epcis_capture_map(event))
    assert mapped.data["plant"] == "0614141007776" and mapped.data["supplier"] == "4012345000009"


def test_missing_plant_and_supplier_reject_the_event_with_a_pointer_to_it():
    event = shipping_event(sourceList=None, destinationList=None)
    result = epcis_capture_map(document(event, shipping_event(eventID="urn:uuid:other")))
    assert result.errors == [
        FieldError(EVENT_0, "no plant: the calling system has none and the event names none"),
        FieldError(EVENT_0, "no supplier: the calling system has none and the event names none"),
    ]
    # the second event names both parties by GLN, so it still maps
    assert [m.pointer for m in result.events] == ["/epcisBody/eventList/1"] and result.telemetry == []


def test_telemetry_needs_no_plant():
    result = epcis_capture_map(fixture("transformation.jsonld"))
    assert result.errors == [] and "plant" not in result.telemetry[0].data


# --- ids and times ---------------------------------------------------------------------------


def test_events_without_event_id_get_a_deterministic_sha256_id():
    event = shipping_event(eventID=None)
    first = single(epcis_capture_map(document(event), **CODES))
    again = single(epcis_capture_map(document(copy.deepcopy(event)), **CODES))
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.id == again.id == "epcis-sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert first.data == again.data  # derived business numbers are stable too
    other = single(
        epcis_capture_map(
            document(shipping_event(eventID=None, eventTime="2025-03-19T15:31:00+01:00")), **CODES
        )
    )
    assert other.id != first.id


def test_key_order_and_whitespace_do_not_change_the_derived_id():
    event = shipping_event(eventID=None)
    reordered = json.loads(json.dumps(dict(reversed(list(event.items()))), indent=4))
    ids = {single(epcis_capture_map(document(e), **CODES)).id for e in (event, reordered)}
    assert len(ids) == 1


def test_shipping_without_desadv_gets_a_derived_shipment_id_and_a_note():
    transactions = [t for t in shipping_event()["bizTransactionList"] if t["type"] != "desadv"]
    mapped = single(epcis_capture_map(document(shipping_event(bizTransactionList=transactions)), **CODES))
    assert mapped.data["shipment_id"].startswith("EPCIS-") and len(mapped.data["shipment_id"]) == 22
    assert any("shipment_id derived" in n for n in mapped.data["extensions"]["epcis"]["notes"])


def test_a_gsin_among_the_epcs_serves_as_shipment_id():
    transactions = [t for t in shipping_event()["bizTransactionList"] if t["type"] != "desadv"]
    epcs = [*shipping_event()["epcList"], "urn:epc:id:gsin:4012345.123456789"]
    event = shipping_event(bizTransactionList=transactions, epcList=epcs)
    mapped = single(epcis_capture_map(document(event), **CODES))
    assert mapped.data["shipment_id"] == "40123451234567894"


def test_a_reference_too_long_for_the_contract_is_skipped_with_a_note():
    receiving = fixture("receiving_urn_form.json")["epcisBody"]["eventList"][0]
    receiving["bizTransactionList"][1]["bizTransaction"] = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
    mapped = single(epcis_capture_map(receiving, **CODES))
    assert "shipment_id" not in mapped.data
    (note,) = mapped.data["extensions"]["epcis"]["notes"]
    assert note.startswith("desadv 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6' gives no usable number")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2005-04-03T20:33:31.116000-06:00", "2005-04-04T02:33:31.116Z"),
        ("2013-06-08T14:58:56.591Z", "2013-06-08T14:58:56.591Z"),
        ("2020-06-07T17:10:16Z", "2020-06-07T17:10:16Z"),
        ("2025-03-21T07:22:31.1234567+01:00", "2025-03-21T06:22:31.123456Z"),
        ("2025-03-21t07:22:31z", "2025-03-21T07:22:31Z"),
        ("22-07-2026", None),
        ("2025-02-30T10:00:00Z", None),
        ("2025-03-21T07:22:31", None),  # no offset
        (20250321, None),
    ],
)
def test_event_time_is_normalised_to_utc(value, expected):
    assert utc_time(value) == expected


def test_missing_or_invalid_event_time_rejects_the_event():
    result = epcis_capture_map(
        document(shipping_event(eventTime=None), shipping_event(eventTime="yesterday")), **CODES
    )
    assert [e.pointer for e in result.errors] == [f"{EVENT_0}/eventTime", "/epcisBody/eventList/1/eventTime"]
    assert result.errors[0].detail == "is required"


# --- per-event errors ---------------------------------------------------------------------------


def test_non_cbv_disposition_is_rejected_with_the_reason():
    result = epcis_capture_map(document(shipping_event(disposition="shipped_out")), **CODES)
    assert result.errors == [
        FieldError(
            f"{EVENT_0}/disposition",
            "'shipped_out' is not a CBV disposition (expected e.g. in_transit or urn:epcglobal:cbv:disp:in_transit)",
        )
    ]


def test_unknown_term_under_the_cbv_urn_namespace_is_rejected():
    result = epcis_capture_map(document(shipping_event(bizStep="urn:epcglobal:cbv:bizstep:shipped")), **CODES)
    assert [e.pointer for e in result.errors] == [f"{EVENT_0}/bizStep"]


def test_shipping_event_without_objects_to_count_is_rejected():
    event = shipping_event(quantityList=None, epcList=["urn:epc:id:sscc:4012345.0000012347"])
    result = epcis_capture_map(document(event), **CODES)
    assert [e.pointer for e in result.errors] == [f"{EVENT_0}/quantityList"]
    assert result.errors[0].detail.startswith("no lines:")


def test_class_without_quantity_cannot_become_a_line():
    event = shipping_event(quantityList=[{"epcClass": "urn:epc:class:lgtin:4012345.088888.L1"}])
    result = epcis_capture_map(document(event), **CODES)
    assert [e.pointer for e in result.errors] == [f"{EVENT_0}/quantityList/0/quantity"]


def test_shipping_without_purchase_order_is_rejected():
    transactions = [t for t in shipping_event()["bizTransactionList"] if t["type"] != "po"]
    result = epcis_capture_map(document(shipping_event(bizTransactionList=transactions)), **CODES)
    assert [e.pointer for e in result.errors] == [f"{EVENT_0}/bizTransactionList"]


def test_data_that_would_violate_the_contract_becomes_an_error_not_an_event():
    long_class = "https://pim.acme-components.example/classes/" + "X" * 45
    event = shipping_event(quantityList=[{"epcClass": long_class, "quantity": 3}])
    result = epcis_capture_map(document(event), **CODES)
    assert result.events == []
    assert result.errors == [
        FieldError(
            EVENT_0,
            "does not map to a valid shipment.dispatched: /data/lines/0/material must be at most 40 characters",
        )
    ]


def test_several_problems_in_one_event_are_all_reported():
    event = shipping_event(
        action="SHIP", quantityList=[{"epcClass": "urn:epc:idpat:sgtin:4012345.077777.*", "quantity": "5"}]
    )
    event["bizTransactionList"] = [{"type": "purchase_order", "bizTransaction": "4500012345"}]
    result = epcis_capture_map(document(event), **CODES)
    assert [e.pointer for e in result.errors] == [
        f"{EVENT_0}/action",
        f"{EVENT_0}/bizTransactionList/0/type",
        f"{EVENT_0}/quantityList/0/quantity",
    ]


# --- document-level errors and garbage ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ([], [("", "must be a JSON object (an EPCISDocument or a single EPCIS event), not an array")]),
        (
            "EPCISDocument",
            [("", "must be a JSON object (an EPCISDocument or a single EPCIS event), not a string")],
        ),
        (None, [("", "must be a JSON object (an EPCISDocument or a single EPCIS event), not null")]),
        (42, [("", "must be a JSON object (an EPCISDocument or a single EPCIS event), not a number")]),
        ({}, [("/type", "is required (EPCISDocument or an EPCIS event type)")]),
        ({"type": "EPCISDocument"}, [("/epcisBody", "is required")]),
        ({"type": "EPCISDocument", "epcisBody": []}, [("/epcisBody", "must be an object with an eventList")]),
        ({"type": "EPCISDocument", "epcisBody": {}}, [("/epcisBody/eventList", "is required")]),
        (
            {"type": "EPCISDocument", "epcisBody": {"eventList": {}}},
            [("/epcisBody/eventList", "must be an array of EPCIS events")],
        ),
        (
            {"type": "EPCISDocument", "epcisBody": {"eventList": []}},
            [("/epcisBody/eventList", "contains no events")],
        ),
        ({"type": "EPCISQueryDocument"}, [("/epcisBody", "is required")]),
        ({"type": "EPCISQueryDocument", "epcisBody": {}}, [("/epcisBody/queryResults", "is required")]),
        (
            {"type": "EPCISQueryDocument", "epcisBody": {"queryResults": "all"}},
            [("/epcisBody/queryResults", "must be an object with a resultsBody")],
        ),
        (
            {"type": "EPCISQueryDocument", "epcisBody": {"queryResults": {"resultsBody": {"eventList": {}}}}},
            [("/epcisBody/queryResults/resultsBody/eventList", "must be an array of EPCIS events")],
        ),
        (
            {"type": ["EPCISDocument"]},
            [
                (
                    "/type",
                    "['EPCISDocument'] is neither EPCISDocument nor EPCISQueryDocument nor an EPCIS event "
                    "type (ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, "
                    "AssociationEvent)",
                )
            ],
        ),
    ],
)
def test_garbage_gives_document_level_errors_and_no_events(value, errors):
    result = epcis_capture_map(value, **CODES)
    assert (result.events, result.telemetry) == ([], [])
    assert [(e.pointer, e.detail) for e in result.errors] == errors


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"type": "EPCISQueryDocument"}, "/epcisBody/queryResults"),  # its events sit elsewhere
        ({"type": "EPCISDoc"}, "/type"),
        ({"schemaVersion": "1.2"}, "/schemaVersion"),
        ({"schemaVersion": 2.0}, "/schemaVersion"),
    ],
)
def test_document_level_error_means_no_events_at_all(changes, pointer):
    value = fixture("supplier_shipping.jsonld") | changes
    result = epcis_capture_map(value, **CODES)
    assert (result.events, result.telemetry) == ([], [])
    assert [e.pointer for e in result.errors] == [pointer]


def test_non_object_items_in_the_event_list_are_rejected_one_by_one():
    result = epcis_capture_map(document("ObjectEvent", shipping_event(), {"type": "CargoEvent"}), **CODES)
    assert len(result.events) == 1
    assert result.errors == [
        FieldError(EVENT_0, "must be an object (an EPCIS event)"),
        FieldError(
            "/epcisBody/eventList/2/type",
            "'CargoEvent' is not an EPCIS event type (expected one of: "
            "ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent)",
        ),
        FieldError("/epcisBody/eventList/2/eventTime", "is required"),
    ]


def _mutations(value, rng: random.Random, depth: int = 0):
    """A copy of ``value`` with some nodes replaced by other JSON values (seeded, repeatable)."""
    junk = [
        None,
        True,
        0,
        -1,
        1.5,
        float("nan"),
        "",
        "x",
        "urn:epc:id:sgtin:1.2.3",
        [],
        {},
        [None],
        {"type": 1},
    ]
    if rng.random() < 0.08 or depth > 8:
        return rng.choice(junk)
    if isinstance(value, dict):
        return {k: _mutations(v, rng, depth + 1) for k, v in value.items() if rng.random() > 0.05}
    if isinstance(value, list):
        return [_mutations(v, rng, depth + 1) for v in value]
    return value


@pytest.mark.parametrize("seed", range(3))
def test_never_raises_on_mangled_documents_and_emits_only_valid_events(seed):
    rng = random.Random(seed)
    sources = [fixture(p.name) for p in sorted(FIXTURES.iterdir())]
    for _ in range(150):
        result = epcis_capture_map(_mutations(rng.choice(sources), rng), plant=rng.choice([None, "DE10"]))
        assert isinstance(result, CaptureResult)
        assert_valid(result)
        assert all(
            isinstance(e, FieldError) and (e.pointer == "" or e.pointer.startswith("/"))
            for e in result.errors
        )


def test_adapter_imports_without_django():
    code = "import sys, integrations.adapters.epcis; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- vocabularies and GS1 keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "term", "standard"),
    [
        ("shipping", "shipping", True),
        ("urn:epcglobal:cbv:bizstep:shipping", "shipping", True),
        ("https://ref.gs1.org/cbv/BizStep-shipping", "shipping", True),
        ("cbv:BizStep-receiving", "receiving", True),
        ("https://ns.example.com/bizstep/x", "https://ns.example.com/bizstep/x", False),
        ("urn:acme:bizstep:kitting", "urn:acme:bizstep:kitting", False),
    ],
)
def test_cbv_business_steps_in_every_spelling(value, term, standard):
    found, reason = cbv_term(value, BIZ_STEPS)
    assert reason is None and (found.value, found.standard) == (term, standard)


@pytest.mark.parametrize(
    "value",
    [
        "shipped",
        "Shipping",
        "",
        " ",
        None,
        3,
        "urn:epcglobal:cbv:bizstep:ship",
        "https://ref.gs1.org/cbv/BizStep-x",
        "in_transit",
    ],
)
def test_non_cbv_business_steps_are_refused(value):
    found, reason = cbv_term(value, BIZ_STEPS)
    assert found is None and reason


def test_vocabularies_know_the_full_cbv_2_lists():
    assert len(BIZ_STEPS.terms) == 41 and len(DISPOSITIONS.terms) == 33
    assert {"sensor_reporting", "void_shipping", "staging_outbound"} <= BIZ_STEPS.terms
    assert {"completeness_inferred", "needs_replacement", "sellable_accessible"} <= DISPOSITIONS.terms


def test_gs1_keys_from_epc_urns_and_digital_links():
    assert gs1.check_digit("400638133393") == "1"  # EAN-13 4006381333931
    # the GS1 EPC Tag Data Standard's own examples
    assert gs1.trade_item("urn:epc:id:sgtin:0614141.812345.6789") == ("80614141123458", None)
    assert gs1.gln("urn:epc:id:sgln:0614141.12345.400") == "0614141123452"
    assert gs1.trade_item("urn:epc:id:sgtin:0614141.107346.2017") == ("10614141073464", None)
    assert gs1.trade_item("urn:epc:idpat:sgtin:4012345.098765.*") == ("04012345987652", None)
    assert gs1.trade_item("urn:epc:class:lgtin:4012345.012345.998877") == ("04012345123456", "998877")
    assert gs1.trade_item("https://id.gs1.org/01/70614141123451/21/2017") == ("70614141123451", None)
    assert gs1.trade_item("https://example.com/dl/01/04012345000016/10/L%2F1") == ("04012345000016", "L/1")
    assert gs1.trade_item("urn:epc:id:sscc:0614141.1234567890") is None
    assert gs1.sscc("urn:epc:id:sscc:0614141.1234567890") == "106141412345678908"
    assert gs1.gln("urn:epc:id:sgln:0614141.00777.0") == "0614141007776"
    assert gs1.gln("https://id.gs1.org/414/9520123456788") == "9520123456788"
    assert gs1.gsin("urn:epc:id:gsin:0614141.123456789") == "06141411234567890"


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        ("urn:epcglobal:cbv:bt:0614141111114:PO-4500012345", "PO-4500012345"),
        ("http://transaction.acme.com/po/12345678", "12345678"),
        ("https://erp.example.com/po/4500012345/?view=full#top", "4500012345"),
        ("4500012345", "4500012345"),
    ],
)
def test_business_number_is_the_last_path_or_colon_segment(uri, number):
    assert gs1.business_number(uri) == number
