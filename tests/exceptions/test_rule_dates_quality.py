"""Date conflicts (a confirmation after the need date) and quality holds on received material."""

from __future__ import annotations

import pytest

from exceptions.models import Case, RuleThreshold
from tests.exceptions.rule_events import NOW, confirmation, evaluate, iso, po, po_change, send

pytestmark = pytest.mark.django_db

LATE = ((10, "RM-100271", "revised", 500, "EA", "2030-03-24", "Production slot moved"),)


def test_revision_after_the_need_date_opens_a_date_conflict(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    confirmed = send(client, senders["portal"], "supplier.confirmation", confirmation(lines=LATE))
    evaluate(order, confirmed)
    case = Case.objects.get(kind=Case.Kind.DATE_CONFLICT)
    assert case.summary == (
        "S-ACME revises PO 4500012345/10 (RM-100271) for 2030-03-24 (Production slot moved); the plant needs "
        "it by 2030-03-21 — 3 days late; allowed 0 days."
    )
    assert case.evidence["days_late"] == 3 and case.supplier.code == "S-ACME"


def test_confirmation_on_the_need_date_or_inside_the_slack_stays_quiet(client, senders, suppliers):
    order = send(client, senders["erp"], "purchase_order.released", po())
    on_time = send(client, senders["portal"], "supplier.confirmation", confirmation())
    evaluate(order, on_time)
    assert not Case.objects.exists()
    RuleThreshold.objects.create(rule="date_conflict", supplier=suppliers["acme"], value=3)
    late = send(client, senders["portal"], "supplier.confirmation", confirmation(lines=LATE))
    evaluate(late)
    assert not Case.objects.exists()  # 3 days late, 3 days allowed for this supplier


def test_date_conflict_resolves_itself_when_the_plant_moves_its_need_date(client, senders):
    order = send(client, senders["erp"], "purchase_order.released", po())
    evaluate(order, send(client, senders["portal"], "supplier.confirmation", confirmation(lines=LATE)))
    moved = send(
        client,
        senders["erp"],
        "purchase_order.changed",
        po_change(lines=((10, "RM-100271", 500, "EA", "2030-03-25"),)),
    )
    assert evaluate(moved).resolved == 1
    assert Case.objects.get().state == Case.State.RESOLVED


def _quality(action: str, **extra) -> dict:
    return {
        "plant": "P-NORTH",
        "lot": "L25-0318-G",
        "material": "RM-100388",
        "action": action,
        "occurred_at": iso(NOW),
        "notification": "QN-200188",
        "quantity": 780,
        "unit": "EA",
        **extra,
    }


def test_quality_hold_on_received_material_opens_a_case_and_its_release_resolves_it(client, senders):
    received = {"supplier": "S-ACME", "po_number": "4500012345", "receipt_id": "5000012345"}
    hold = send(
        client,
        senders["qms"],
        "quality.exception",
        _quality("hold", reason="Hardness out of tolerance", defect_code="HARD-01", **received),
    )
    evaluate(hold)
    case = Case.objects.get(kind=Case.Kind.QUALITY_HOLD)
    assert case.summary == (
        "Quality holds lot L25-0318-G of RM-100388 (780 EA) at P-NORTH, received from S-ACME on receipt "
        "5000012345 for PO 4500012345: Hardness out of tolerance (HARD-01), notification QN-200188. "
        "The material cannot be used until quality releases it."
    )
    assert case.severity == Case.Severity.HIGH and case.plant.code == "P-NORTH"
    release = send(client, senders["qms"], "quality.exception", _quality("release", **received))
    assert evaluate(release).resolved == 1


def test_hold_on_an_own_production_lot_is_no_supply_case(client, senders):
    hold = send(client, senders["qms"], "quality.exception", _quality("hold", production_order="1000231"))
    evaluate(hold)
    assert not Case.objects.exists()
