"""The EPCIS 2.0 structure check (integrations.adapters.epcis.rules), on the project's own fixtures.

Each case is one of our fixtures changed the way one of openEPCIS's negative documents is
wrong (the negatives themselves are third-party and are tested in test_epcis_conformance.py,
only where the shared standards folder exists).
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.adapters.epcis import epcis_capture_map
from integrations.adapters.epcis.places import event_places
from integrations.adapters.epcis.rules import EVENT_TYPES, epcis_document_errors
from tests.integrations.test_epcis_mapping import EVENT_0, FIXTURES, fixture


def shipping(**changes: object) -> dict:
    """Our supplier shipping document with its event changed (None removes a field)."""
    document = copy.deepcopy(fixture("supplier_shipping.jsonld"))
    event = document["epcisBody"]["eventList"][0]
    event.update(changes)
    document["epcisBody"]["eventList"][0] = {k: v for k, v in event.items() if v is not None}
    return document


def pointers(document) -> list[str]:
    return [e.pointer for e in epcis_document_errors(document)]


@pytest.mark.parametrize("path", sorted(FIXTURES.iterdir()), ids=lambda p: p.name)
def test_own_fixtures_have_the_epcis_structure(path):
    assert epcis_document_errors(fixture(path.name)) == []


def test_a_document_without_context_is_refused():
    document = shipping()
    del document["@context"]
    assert epcis_document_errors(document)[0].pointer == "/@context"


def test_a_document_needs_creation_date_and_schema_version():
    document = shipping()
    del document["creationDate"], document["schemaVersion"]
    assert pointers(document) == ["/creationDate", "/schemaVersion"]


def test_a_single_event_needs_its_own_context():
    event = shipping()["epcisBody"]["eventList"][0]
    assert pointers(event) == ["/@context"]
    assert (
        pointers({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], **event})
        == []
    )


def test_certification_info_must_be_uris():
    document = shipping(certificationInfo=[{"acme:agency": "TÜV", "acme:standard": "ISO 9001"}])
    (error,) = epcis_document_errors(document)
    assert (error.pointer, error.detail) == (
        f"{EVENT_0}/certificationInfo",
        "must be a URI or an array of URIs",
    )
    assert epcis_document_errors(shipping(certificationInfo="https://cert.example/iso9001/42")) == []


def test_an_unknown_field_in_a_quantity_element_is_named():
    quantities = [{"epcClass": "urn:epc:class:lgtin:4012345.088888.L1", "quantity": 5, "weight": 12}]
    (error,) = epcis_document_errors(shipping(quantityList=quantities))
    assert (error.pointer, error.detail) == (f"{EVENT_0}/quantityList/0/weight", "is not a field here")


def test_a_quantity_must_be_a_number():
    quantities = [{"epcClass": "urn:epc:class:lgtin:4012345.088888.L1", "quantity": "twenty"}]
    assert pointers(shipping(quantityList=quantities)) == [f"{EVENT_0}/quantityList/0/quantity"]


def test_event_time_zone_offset_is_required():
    assert pointers(shipping(eventTimeZoneOffset=None)) == [f"{EVENT_0}/eventTimeZoneOffset"]


def test_missing_action_and_event_time_are_each_named():
    assert pointers(shipping(action=None, eventTime=None)) == [f"{EVENT_0}/action", f"{EVENT_0}/eventTime"]


def test_an_event_field_without_namespace_is_refused_and_a_namespaced_one_kept():
    (error,) = epcis_document_errors(shipping(loadingDock="D4"))
    assert error.pointer == f"{EVENT_0}/loadingDock"
    assert "namespace" in error.detail
    assert epcis_document_errors(shipping(**{"acme:gate": "7"})) == []


def test_an_ilmd_field_without_namespace_is_refused():
    (error,) = epcis_document_errors(shipping(action="ADD", ilmd={"materialType": "steel"}))
    assert error.pointer == f"{EVENT_0}/ilmd/materialType"


def test_ilmd_needs_action_add():
    assert pointers(shipping(ilmd={"acme:grade": "A"})) == [f"{EVENT_0}/action"]


def test_an_object_event_needs_what_it_is_about():
    (error,) = epcis_document_errors(shipping(epcList=None, quantityList=None))
    assert error.pointer == EVENT_0 and "epcList" in error.detail


def test_event_time_must_be_rfc3339():
    assert pointers(shipping(eventTime="22-07-2026")) == [f"{EVENT_0}/eventTime"]


def test_a_source_entry_takes_no_other_fields():
    sources = [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00000", "name": "Acme"}]
    assert pointers(shipping(sourceList=sources)) == [f"{EVENT_0}/sourceList/0/name"]


def test_each_event_type_has_its_own_required_fields():
    base = shipping()["epcisBody"]["eventList"][0]
    common = {k: base[k] for k in ("eventTime", "eventTimeZoneOffset")}
    document = shipping()
    document["epcisBody"]["eventList"] = [
        {"type": "TransactionEvent", "action": "ADD", "epcList": [], **common},
        {"type": "AssociationEvent", "action": "ADD", "childEPCs": ["urn:epc:id:giai:4000001.12"], **common},
        {"type": "TransformationEvent", "inputEPCList": ["urn:epc:id:sgtin:4012345.011111.1"], **common},
        {"type": "AggregationEvent", "action": "ADD", **common},
        {"type": "https://ns.acme-components.example/epcis/CalibrationEvent", **common},
    ]
    assert pointers(document) == [
        "/epcisBody/eventList/0/bizTransactionList",
        "/epcisBody/eventList/1/parentID",
        "/epcisBody/eventList/2",
        "/epcisBody/eventList/3",
    ]


def test_the_check_never_raises_on_odd_json():
    for value in (None, [], "x", 1, {"type": "EPCISDocument", "epcisBody": {"eventList": [1, None, "x"]}}):
        assert isinstance(epcis_document_errors(value), list)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_EVENT_KEYS = st.sampled_from(
    [
        "type",
        "eventTime",
        "eventTimeZoneOffset",
        "action",
        "epcList",
        "quantityList",
        "ilmd",
        "readPoint",
        "destinationList",
        "bizStep",
        "certificationInfo",
        "childEPCs",
        "parentID",
        "acme:x",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    event=st.dictionaries(_EVENT_KEYS, _JSON, max_size=8),
    kind=st.sampled_from([*EVENT_TYPES, "urn:x:Custom", 7]),
    context=st.booleans(),
)
def test_checks_never_raise_on_any_event_shape(event, kind, context):
    document = {"type": "EPCISDocument", "epcisBody": {"eventList": [{**event, "type": kind}]}}
    if context:
        document["@context"] = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    errors = epcis_document_errors(document)
    assert all(e.pointer == "" or e.pointer.startswith("/") for e in errors)
    epcis_capture_map(document, plant="P", supplier="S")
    event_places(document)
