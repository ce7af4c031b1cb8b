"""Quantity mismatch: ASN vs PO line and receipt vs ASN, with tolerances, unit normalisation,
ASN lines without PO line numbers, and self-resolution when the numbers agree again."""

from __future__ import annotations

import pytest

from exceptions.models import Case, RuleThreshold
from exceptions.rules.units import base_unit, quantity
from tests.exceptions.rule_events import asn, confirmation, evaluate, po, po_change, receipt, send

pytestmark = pytest.mark.django_db


def _mismatches(**filters):
    return list(Case.objects.filter(kind=Case.Kind.QUANTITY_MISMATCH, **filters))


def test_units_normalise_un_ece_codes_to_common_ones():
    assert base_unit("KGM") == base_unit("KG") == "KG"
    assert quantity(1.2, "TNE") == quantity(1200, "KG")
    assert quantity(480, "C62") == quantity(480, "EA")
    assert quantity(5, "MTR") == quantity(500, "CMT")
    assert base_unit("XYZ") == "XYZ"  # unknown: only compares with itself


def test_asn_short_of_the_po_line_opens_a_case_in_a_planners_words(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    shipped = send(client, senders["portal"], "shipment.dispatched", asn())
    applied = evaluate(order, shipped)
    assert applied.opened == 1
    (case,) = _mismatches()
    assert case.summary == (
        "ASN ASN-88123401 ships 480 EA of RM-100271 for PO 4500012345/10; the PO line ordered 500 EA; "
        "tolerance 2 %."
    )
    assert case.evidence["shipped_total"] == 480 and case.evidence["agreed_total"] == 500
    assert case.evidence["tolerance_pct"] == 2.0
    assert case.plant.code == "P-NORTH" and case.supplier.code == "S-ACME"
    assert case.severity == Case.Severity.MEDIUM
    # The same facts again change nothing (the task is idempotent).
    assert evaluate(order, shipped).opened == 0
    assert Case.objects.get().occurrences == 1


def test_asn_just_inside_the_tolerance_stays_quiet(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    shipped = send(
        client,
        senders["portal"],
        "shipment.dispatched",
        asn(lines=(("4500012345", 10, "RM-100271", 490, "EA"),)),
    )
    assert evaluate(order, shipped).opened == 0  # 2.0 % short: at the tolerance, not past it
    assert not _mismatches()


def test_a_threshold_per_material_tightens_the_tolerance(client, senders, plants):
    RuleThreshold.objects.create(rule="asn_quantity", material="RM-100271", value=1)
    RuleThreshold.objects.create(rule="asn_quantity", plant=plants["north"], value=5)
    order = send(client, senders["erp"], "purchase_order.released", po())
    shipped = send(
        client,
        senders["portal"],
        "shipment.dispatched",
        asn(lines=(("4500012345", 10, "RM-100271", 490, "EA"),)),
    )
    evaluate(order, shipped)
    (case,) = _mismatches()
    assert case.evidence["tolerance_pct"] == 1.0  # the material's row beats the plant's


def test_supplier_confirmed_quantity_is_what_the_asn_is_held_to(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    confirmed = send(
        client,
        senders["portal"],
        "supplier.confirmation",
        confirmation(lines=((10, "RM-100271", "revised", 480, "EA", "2030-03-21", "Allocation"),)),
    )
    shipped = send(client, senders["portal"], "shipment.dispatched", asn())
    evaluate(order, confirmed, shipped)
    assert not _mismatches()


def test_epcis_style_asn_in_kgm_without_po_line_numbers_matches_by_material(client, senders):
    order = send(
        client,
        senders["erp"],
        "purchase_order.released",
        po(lines=((10, "RM-200110", 12000, "KG", "2030-03-21"),)),
    )
    # As the EPCIS adapter maps it: unit KGM, POs only in purchase_orders.
    fine = send(
        client,
        senders["portal"],
        "shipment.dispatched",
        asn("ASN-1", lines=((None, None, "RM-200110", 12000, "KGM"),), pos=["4500012345"]),
    )
    evaluate(order, fine)
    assert not _mismatches()
    over = send(
        client,
        senders["portal"],
        "shipment.dispatched",
        asn("ASN-2", lines=((None, None, "RM-200110", 1000, "KGM"),), pos=["4500012345"]),
    )
    evaluate(over)
    (case,) = _mismatches()
    assert "ASN ASN-1 ships 12,000 KGM; ASN ASN-2 ships 1,000 KGM of RM-200110" in case.summary
    assert "for PO 4500012345 line 10 (matched by material: no PO line number on the ASN)" in case.summary
    assert case.title.startswith("ASN quantity over")


def test_case_resolves_itself_when_the_po_is_corrected_and_reopens_when_it_recurs(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    shipped = send(client, senders["portal"], "shipment.dispatched", asn())
    evaluate(order, shipped)
    change = send(client, senders["erp"], "purchase_order.changed", po_change())
    assert evaluate(change).resolved == 1
    case = Case.objects.get()
    assert case.state == Case.State.RESOLVED and case.reason_code == "cause_gone"
    assert case.entries.first().action == "self_resolved"
    again = send(
        client,
        senders["erp"],
        "purchase_order.changed",
        po_change(lines=((10, "RM-100271", 600, "EA", "2030-03-21"),), revision=3),
    )
    assert evaluate(again).reopened == 1
    assert Case.objects.get().state == Case.State.OPEN


def test_receipt_short_of_its_asn_opens_a_case_and_a_corrected_receipt_resolves_it(client, senders):
    send(client, senders["erp"], "purchase_order.released", po())
    shipped = send(
        client,
        senders["portal"],
        "shipment.dispatched",
        asn(lines=(("4500012345", 10, "RM-100271", 500, "EA"),)),
    )
    counted = send(client, senders["wms"], "goods.received", receipt(lines=(("RM-100271", 470, "EA"),)))
    evaluate(shipped, counted)
    (case,) = _mismatches()
    assert case.summary == (
        "Receipt 5000012345 of ASN-88123401 counts 470 EA of RM-100271; the ASN announced 500 EA; tolerance 1 %."
    )
    corrected = send(client, senders["wms"], "goods.received", receipt(lines=(("RM-100271", 500, "EA"),)))
    assert evaluate(corrected).resolved == 1


def test_receipt_just_inside_its_tolerance_stays_quiet(client, senders):
    send(client, senders["erp"], "purchase_order.released", po())
    shipped = send(
        client,
        senders["portal"],
        "shipment.dispatched",
        asn(lines=(("4500012345", 10, "RM-100271", 500, "EA"),)),
    )
    counted = send(client, senders["wms"], "goods.received", receipt(lines=(("RM-100271", 495, "EA"),)))
    evaluate(shipped, counted)
    assert not _mismatches()


def test_asn_in_another_dimension_than_the_po_is_a_mismatch(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    shipped = send(
        client,
        senders["portal"],
        "shipment.dispatched",
        asn(lines=(("4500012345", 10, "RM-100271", 40, "KGM"),)),
    )
    evaluate(order, shipped)
    (case,) = _mismatches()
    assert "cannot be compared" in case.summary
