"""Identifier normalisation: each system's spelling of a key, undone by configured rules."""

from __future__ import annotations

import pytest

from controltower.traces.identifiers import identifier_rules_load, normalize_identifier, rule_book
from controltower.traces.models import IdentifierRule

PORTAL, ERP = 7, 8


def book(*rules: IdentifierRule):
    return rule_book(rules)


def portal_strips_po_prefix():
    return book(IdentifierRule(system_id=PORTAL, kind="purchase_order", strip_prefix="PO-"))


def test_portal_prefix_is_stripped_for_the_portal_only():
    rules = portal_strips_po_prefix()
    assert normalize_identifier(
        kind="purchase_order", value="PO-4500012345", system_id=PORTAL, rules=rules
    ) == ("4500012345")
    assert normalize_identifier(kind="purchase_order", value="PO-4500012345", system_id=ERP, rules=rules) == (
        "PO-4500012345"
    )


def test_po_line_uses_purchase_order_rules_and_drops_the_lines_leading_zeros():
    rules = portal_strips_po_prefix()
    value = normalize_identifier(kind="po_line", value="PO-4500012345/00010", system_id=PORTAL, rules=rules)
    assert value == "4500012345/10"
    assert normalize_identifier(kind="po_line", value="4500012345/10", system_id=ERP, rules=rules) == value


def test_system_rules_apply_before_global_rules_then_whitespace_is_stripped():
    rules = book(
        IdentifierRule(system_id=PORTAL, kind="shipment", strip_suffix="-ASN", uppercase=False),
        IdentifierRule(system_id=None, kind="shipment", strip_prefix="ASN", strip_leading_zeros=True),
    )
    # Portal: "-asn" suffix off (case-insensitively), then the global "ASN" prefix and zeros.
    assert (
        normalize_identifier(kind="shipment", value=" asn00881-asn ", system_id=PORTAL, rules=rules) == "881"
    )
    assert normalize_identifier(kind="shipment", value="ASN0042", system_id=ERP, rules=rules) == "42"


def test_without_rules_only_whitespace_is_stripped():
    assert normalize_identifier(kind="shipment", value="  ASN-1 ", system_id=ERP, rules={}) == "ASN-1"


@pytest.mark.parametrize(("value", "expected"), [("000", "0"), ("0012", "12"), ("AB0012", "AB0012")])
def test_leading_zeros_leave_zero_itself(value, expected):
    rules = book(IdentifierRule(system_id=None, kind="goods_receipt", strip_leading_zeros=True))
    assert normalize_identifier(kind="goods_receipt", value=value, system_id=None, rules=rules) == expected


def test_uppercase_is_the_default(db):
    IdentifierRule.objects.create(kind="tracking_number")
    rules = identifier_rules_load()
    assert (
        normalize_identifier(kind="tracking_number", value="jjd0003", system_id=None, rules=rules)
        == "JJD0003"
    )


def test_rules_are_loaded_in_one_query(db, django_assert_num_queries, network):
    for system in ("erp", "acme"):
        IdentifierRule.objects.create(
            system=network[system].system, kind="purchase_order", strip_prefix="PO-"
        )
    with django_assert_num_queries(1):
        rules = identifier_rules_load()
    assert len(rules) == 2
