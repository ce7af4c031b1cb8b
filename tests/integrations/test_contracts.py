"""Canonical event contracts: schema files, registry, validation and identifier extraction."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

from integrations.contracts import (  # noqa: E402
    IDENTIFIER_KINDS,
    SCHEMAS_DIR,
    ContractRegistry,
    FieldError,
    check_catalog,
    contract_get,
    contract_types,
    contracts_all,
    extract_identifiers,
    validate_data,
    version_from_dataschema,
)

REQUIRED_TYPES = [
    "purchase_order.released",
    "purchase_order.changed",
    "supplier.confirmation",
    "shipment.dispatched",
    "shipment.milestone",
    "goods.received",
    "production_order.released",
    "production_order.started",
    "operation.completed",
    "quality.exception",
    "inventory.transferred",
    "inventory.adjusted",
    "customer_shipment.confirmed",
    "erp.posting",
    "integration.telemetry",
]


def example(type_: str) -> dict:
    """A private, mutable copy of the v1 example of ``type_``."""
    return copy.deepcopy(contract_get(type_, 1).example)


def pointers(errors: list[FieldError]) -> list[str]:
    return [e.pointer for e in errors]


# --- catalog -----------------------------------------------------------------


@pytest.mark.parametrize("type_", REQUIRED_TYPES)
def test_every_required_type_has_a_v1_with_the_contract_urn_as_id(type_):
    contract = contract_get(type_, 1)
    assert contract is not None
    assert contract.type == type_ and contract.version == 1
    assert contract.schema_uri == f"urn:controltower:contract:{type_}:v1"
    assert contract.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert contract.schema["additionalProperties"] is False
    assert contract.identifiers, "every contract declares x-identifiers"


@pytest.mark.parametrize("contract", contracts_all(), ids=lambda c: f"{c.type}-v{c.version}")
def test_every_example_validates_against_its_schema(contract):
    assert validate_data(contract, contract.example) == []


def test_catalog_check_finds_no_problems():
    assert check_catalog() == []


def test_contract_types_and_contracts_all_are_sorted():
    assert set(REQUIRED_TYPES) <= set(contract_types())
    assert contract_types() == sorted(contract_types())
    keys = [(c.type, c.version) for c in contracts_all()]
    assert keys == sorted(keys)


def test_unknown_type_or_version_gives_none():
    assert contract_get("no_such.event") is None
    assert contract_get("goods.received", 99) is None


def test_declared_identifier_kinds_are_the_known_ones():
    for contract in contracts_all():
        for value in contract.identifiers.values():
            kind = value if isinstance(value, str) else value["kind"]
            assert kind in IDENTIFIER_KINDS, (contract.type, kind)


def test_contracts_package_imports_without_django():
    code = "import sys, integrations.contracts; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- validation ----------------------------------------------------------------


def test_missing_required_field_is_reported_at_the_missing_property():
    data = example("purchase_order.released")
    del data["po_number"]
    errors = validate_data(contract_get("purchase_order.released"), data)
    assert errors == [FieldError("/data/po_number", "is required")]


def test_missing_required_field_inside_a_line_points_into_the_line():
    data = example("shipment.dispatched")
    del data["lines"][1]["po_line"]
    errors = validate_data(contract_get("shipment.dispatched"), data)
    assert errors == [FieldError("/data/lines/1/po_line", "is required")]


def test_wrong_type_is_reported_with_a_pointer_under_data():
    data = example("shipment.dispatched")
    data["lines"][0]["quantity"] = "500"
    errors = validate_data(contract_get("shipment.dispatched"), data)
    assert pointers(errors) == ["/data/lines/0/quantity"]
    assert "number" in errors[0].detail and "string" in errors[0].detail


def test_non_positive_quantity_and_empty_lines_are_rejected():
    contract = contract_get("goods.received")
    data = example("goods.received")
    data["lines"][0]["quantity"] = 0
    assert validate_data(contract, data) == [FieldError("/data/lines/0/quantity", "must be greater than 0")]
    data["lines"] = []
    assert pointers(validate_data(contract, data)) == ["/data/lines"]


def test_all_errors_are_reported_sorted_by_pointer():
    data = example("goods.received")
    del data["receipt_id"]
    data["lines"][0]["condition"] = "wet"
    data["plant"] = 10
    data["unexpected"] = True
    errors = validate_data(contract_get("goods.received"), data)
    assert pointers(errors) == sorted(pointers(errors))
    assert pointers(errors) == [
        "/data/lines/0/condition",
        "/data/plant",
        "/data/receipt_id",
        "/data/unexpected",
    ]
    assert errors[0].detail.startswith("must be one of: good, damaged")
    assert errors[3].detail == "is not an allowed property"


@pytest.mark.parametrize(
    "value",
    [
        "2025-03-19T15:30:00",  # no offset
        "2025-03-19 15:30:00Z",  # space instead of T
        "2025-13-19T15:30:00Z",  # month 13
        "19.03.2025 15:30",
        "yesterday",
    ],
)
def test_bad_date_time_is_rejected(value):
    data = example("shipment.dispatched")
    data["dispatched_at"] = value
    errors = validate_data(contract_get("shipment.dispatched"), data)
    assert pointers(errors) == ["/data/dispatched_at"]
    assert "date-time" in errors[0].detail


@pytest.mark.parametrize(
    "value", ["2025-03-19T15:30:00Z", "2025-03-19T15:30:00.125+01:00", "2025-03-19t15:30:00z"]
)
def test_rfc3339_date_times_with_offset_are_accepted(value):
    data = example("shipment.dispatched")
    data["dispatched_at"] = value
    assert validate_data(contract_get("shipment.dispatched"), data) == []


@pytest.mark.parametrize("value", ["2025-02-30", "2025-3-1", "2025-03-01T00:00:00Z"])
def test_bad_date_is_rejected(value):
    data = example("purchase_order.released")
    data["lines"][0]["requested_date"] = value
    errors = validate_data(contract_get("purchase_order.released"), data)
    assert pointers(errors) == ["/data/lines/0/requested_date"]


def test_data_that_is_not_an_object_is_reported_at_data():
    errors = validate_data(contract_get("goods.received"), None)
    assert errors == [FieldError("/data", "must be of type object, not null")]


def test_delayed_milestone_requires_a_new_eta_and_a_shipment_reference():
    contract = contract_get("shipment.milestone")
    data = {"carrier": "DHLF", "milestone": "delayed", "occurred_at": "2025-03-20T11:05:00Z"}
    errors = validate_data(contract, data)
    assert FieldError("/data/estimated_arrival", "is required") in errors
    assert FieldError("/data", "requires at least one of: shipment_id, tracking_number") in errors
    data.update(milestone="in_transit", tracking_number="JJD000390007412345")
    assert validate_data(contract, data) == []


def test_rejected_confirmation_line_needs_no_quantity_but_a_revised_one_does():
    contract = contract_get("supplier.confirmation")
    data = example("supplier.confirmation")
    data["lines"][0] = {"line": 10, "material": "RM-100271", "status": "rejected"}
    assert validate_data(contract, data) == []
    del data["lines"][1]["confirmed_date"]
    assert validate_data(contract, data) == [FieldError("/data/lines/1/confirmed_date", "is required")]


def test_failed_posting_requires_an_error_and_posted_requires_a_document_number():
    contract = contract_get("erp.posting")
    data = example("erp.posting")
    data["status"] = "failed"
    assert validate_data(contract, data) == [FieldError("/data/error", "is required")]
    data = example("erp.posting")
    del data["document_number"]
    assert validate_data(contract, data) == [FieldError("/data/document_number", "is required")]


def test_failed_telemetry_hop_requires_an_error():
    contract = contract_get("integration.telemetry")
    data = example("integration.telemetry")
    del data["error"]
    assert validate_data(contract, data) == [FieldError("/data/error", "is required")]


# --- identifiers ------------------------------------------------------------------


def test_asn_serving_two_pos_yields_both_purchase_orders_and_their_po_lines():
    data = {
        "shipment_id": "ASN-1001",
        "supplier": "SUP-20417",
        "plant": "DE10",
        "dispatched_at": "2025-03-19T15:30:00Z",
        "carrier": "DHLF",
        "tracking_number": " JJD0001 ",
        "lines": [
            {
                "line": 1,
                "po_number": "4500012345",
                "po_line": 10,
                "material": "RM-1",
                "quantity": 5,
                "unit": "EA",
            },
            {
                "line": 2,
                "po_number": "4500012345",
                "po_line": 20,
                "material": "RM-2",
                "quantity": 7,
                "unit": "EA",
            },
            {
                "line": 3,
                "po_number": "4500099999",
                "po_line": 10,
                "material": "RM-1",
                "quantity": 1,
                "unit": "EA",
            },
        ],
    }
    contract = contract_get("shipment.dispatched")
    assert validate_data(contract, data) == []
    ids = extract_identifiers(contract, data)
    assert [v for k, v in ids if k == "purchase_order"] == ["4500012345", "4500099999"]
    assert [v for k, v in ids if k == "po_line"] == [
        "4500012345/10",
        "4500012345/20",
        "4500099999/10",
    ]
    assert ("shipment", "ASN-1001") in ids
    assert ("tracking_number", "JJD0001") in ids  # stripped
    assert [v for k, v in ids if k == "material"] == ["RM-1", "RM-2"]  # deduplicated
    assert len(ids) == len(set(ids))


def test_po_lines_of_a_purchase_order_are_prefixed_with_its_number():
    contract = contract_get("purchase_order.released")
    ids = extract_identifiers(contract, example("purchase_order.released"))
    assert ids[:3] == [
        ("purchase_order", "4500012345"),
        ("po_line", "4500012345/10"),
        ("po_line", "4500012345/20"),
    ]


def test_identifier_extraction_skips_absent_and_blank_values():
    contract = contract_get("integration.telemetry")
    data = {
        "message_id": "msg-1",
        "hop": "x",
        "status": "received",
        "occurred_at": "2025-03-21T07:22:36Z",
        "po_number": "   ",
        "plant": None,
    }
    assert extract_identifiers(contract, data) == [("message", "msg-1")]


def test_receipt_line_without_po_number_yields_no_po_line():
    contract = contract_get("goods.received")
    data = {"receipt_id": "GR-1", "lines": [{"po_line": 10}]}
    assert extract_identifiers(contract, data) == [("goods_receipt", "GR-1")]


def test_extraction_order_is_stable():
    contract = contract_get("goods.received")
    data = example("goods.received")
    assert extract_identifiers(contract, data) == extract_identifiers(contract, data)


# --- dataschema and versions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("dataschema", "version"),
    [
        ("urn:controltower:contract:shipment.dispatched:v1", 1),
        ("urn:controltower:contract:shipment.dispatched:v12", 12),
        ("https://schemas.example.com/contracts/shipment.dispatched/v2", 2),
        ("https://schemas.example.com/contracts/shipment.dispatched/v2/", 2),
        ("https://example.com/c/goods.received/v3.schema.json?ref=main#top", 3),
        ("integrations/contracts/schemas/goods.received/v1.schema.json", 1),
        ("/goods.received/v4", 4),
    ],
)
def test_version_from_dataschema_understands_urns_urls_and_paths(dataschema, version):
    assert version_from_dataschema(dataschema) == version


@pytest.mark.parametrize(
    "dataschema",
    [
        None,
        "",
        "goods.received",
        "urn:controltower:contract:goods.received",
        "https://x/v0",
        "https://x/goods.received/version2",
        "urn:other:thing:v2",
    ],
)
def test_version_from_dataschema_returns_none_when_it_cannot_parse(dataschema):
    assert version_from_dataschema(dataschema) is None


def test_a_v2_dropped_beside_v1_is_loaded_and_both_versions_are_accepted(tmp_path):
    folder = tmp_path / "goods.received"
    shutil.copytree(SCHEMAS_DIR / "goods.received", folder)
    schema = json.loads((folder / "v1.schema.json").read_text())
    schema["$id"] = "urn:controltower:contract:goods.received:v2"
    schema["properties"]["dock"] = {"type": "string", "minLength": 1}
    schema["required"] = [*schema["required"], "dock"]
    v2_example = {**json.loads((folder / "v1.example.json").read_text()), "dock": "D4"}
    (folder / "v2.schema.json").write_text(json.dumps(schema))
    (folder / "v2.example.json").write_text(json.dumps(v2_example))

    registry = ContractRegistry(tmp_path)
    assert registry.types() == ["goods.received"]
    assert [c.version for c in registry.all()] == [1, 2]
    assert registry.get("goods.received").version == 2  # latest by default
    v1, v2 = registry.get("goods.received", 1), registry.get("goods.received", 2)
    assert v2.schema_uri == "urn:controltower:contract:goods.received:v2"
    v1_data = example("goods.received")
    assert validate_data(v1, v1_data) == []
    assert validate_data(v2, v1_data) == [FieldError("/data/dock", "is required")]
    assert validate_data(v2, v2.example) == []
    assert registry.check() == []


def test_catalog_check_reports_broken_contracts(tmp_path):
    folder = tmp_path / "widget.moved"
    folder.mkdir()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:controltower:contract:widget.moved:v1",
        "type": "object",
        "required": ["plant"],
        "properties": {"plant": {"type": "string"}, "lines": {"type": "array"}},
        "x-identifiers": {"/plant": "factory", "/lines/*/lot": "lot", "/lines/*/line": "po_line"},
    }
    (folder / "v1.schema.json").write_text(json.dumps(schema))
    (folder / "v1.example.json").write_text(json.dumps({"plant": 7}))
    (tmp_path / "widget.dropped").mkdir()
    (tmp_path / "widget.dropped" / "v1.schema.json").write_text('{"type": "objec"}')

    problems = "\n".join(ContractRegistry(tmp_path).check())
    assert "widget.dropped v1: v1.example.json is missing" in problems
    assert "widget.dropped v1: schema invalid" in problems
    assert "widget.moved v1: example invalid at /data/plant" in problems
    assert "unknown identifier kind 'factory'" in problems
    assert "identifier /lines/*/lot: not declared in the schema's properties" in problems
    assert "identifier /lines/*/lot: not resolvable in the example" in problems
    assert "po_line needs a prefix_pointer" in problems


def test_registry_over_a_missing_folder_is_empty_and_says_so(tmp_path):
    registry = ContractRegistry(tmp_path / "nowhere")
    assert registry.all() == [] and registry.get("goods.received") is None
    assert registry.check() == [f"schemas folder not found: {tmp_path / 'nowhere'}"]


def test_every_contract_names_its_business_time_and_the_check_holds_it_to_a_required_date_time(tmp_path):
    assert all(contract.business_time for contract in contracts_all())
    folder = tmp_path / "widget.moved"
    folder.mkdir()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:controltower:contract:widget.moved:v1",
        "type": "object",
        "required": ["plant"],
        "properties": {"plant": {"type": "string"}, "moved_at": {"type": "string", "format": "date-time"}},
        "x-identifiers": {"/plant": "plant"},
    }
    (folder / "v1.schema.json").write_text(json.dumps(schema))
    (folder / "v1.example.json").write_text(json.dumps({"plant": "P1"}))
    assert "x-business-time must name the data's own time property" in "\n".join(
        ContractRegistry(tmp_path).check()
    )
    for pointer, problem in [("/plant", "is not a top-level date-time"), ("/moved_at", "must be a required")]:
        (folder / "v1.schema.json").write_text(json.dumps({**schema, "x-business-time": pointer}))
        assert problem in "\n".join(ContractRegistry(tmp_path).check())
