"""A rule added, changed or removed after events were correlated moves them to the right traces."""

from __future__ import annotations

import pytest

from controltower.traces.models import BusinessObject, IdentifierRule, ObjectLink, Trace
from controltower.traces.services import correlate_events
from controltower.traces.services.rekeying import identifiers_rekey
from tests.conftest import wait_for
from tests.traces.conftest import PO_A, cloudevent, example, ingest, picture


def _portal_flow(systems) -> dict[str, int]:
    """ERP release of PO A; the portal's confirmation and ASN spelling it "PO-…"; a carrier
    milestone naming only the ASN's tracking number. Correlated; no rule yet."""
    release = ingest(
        systems["erp"],
        cloudevent("purchase_order.released", example("purchase_order.released"), source="ERP-CLOUD"),
    )
    asn = example("shipment.dispatched", purchase_orders=[f"PO-{PO_A}"])
    for line in asn["lines"]:
        line["po_number"] = f"PO-{PO_A}"
    portal = ingest(
        systems["portal"],
        cloudevent(
            "supplier.confirmation",
            example("supplier.confirmation", po_number=f"PO-{PO_A}"),
            source="PORTAL-ACME",
        ),
        cloudevent("shipment.dispatched", asn, source="PORTAL-ACME"),
    )
    milestone = example("shipment.milestone")
    milestone.pop("purchase_orders", None)
    milestone.pop("shipment_id", None)
    tms = ingest(systems["tms"], cloudevent("shipment.milestone", milestone, source="TMS-CARRIER"))
    correlate_events(event_ids=release + portal + tms)
    return {"release": release[0], "confirmation": portal[0], "asn": portal[1], "milestone": tms[0]}


def _event_ids(pks: list[int]) -> set[str]:
    from integrations.models import Event

    return set(Event.objects.filter(pk__in=pks).values_list("event_id", flat=True))


@pytest.mark.django_db
def test_a_rule_added_later_merges_the_portal_spelling_into_the_erp_trace(systems):
    ids = _portal_flow(systems)
    split = picture()
    assert set(split) == {f"procure_to_receive:{PO_A}", f"procure_to_receive:PO-{PO_A}"}
    assert split[f"procure_to_receive:PO-{PO_A}"] == _event_ids(
        [ids["confirmation"], ids["asn"], ids["milestone"]]
    )

    IdentifierRule.objects.create(system=systems["portal"], kind="purchase_order", strip_prefix="PO-")
    assert identifiers_rekey(kind="purchase_order", system_id=systems["portal"].pk) == 2

    assert picture() == {f"procure_to_receive:{PO_A}": _event_ids(list(ids.values()))}
    assert not BusinessObject.objects.filter(key__startswith="PO-").exists()
    assert Trace.objects.get().event_count == 4
    lines = set(BusinessObject.objects.filter(kind="po_line").values_list("key", flat=True))
    assert lines and all(key.startswith(f"{PO_A}/") for key in lines)
    assert identifiers_rekey(kind="purchase_order", system_id=systems["portal"].pk) == 0  # idempotent


@pytest.mark.django_db
def test_removing_the_rule_splits_the_trace_again_and_leaves_no_stale_links(systems):
    rule = IdentifierRule.objects.create(system=systems["portal"], kind="purchase_order", strip_prefix="PO-")
    ids = _portal_flow(systems)
    merged = picture()
    links = ObjectLink.objects.count()

    rule.delete()
    identifiers_rekey(kind="purchase_order", system_id=systems["portal"].pk)
    assert set(picture()) == {f"procure_to_receive:{PO_A}", f"procure_to_receive:PO-{PO_A}"}
    assert picture()[f"procure_to_receive:{PO_A}"] == _event_ids([ids["release"]])

    IdentifierRule.objects.create(system=systems["portal"], kind="purchase_order", strip_prefix="PO-")
    identifiers_rekey(kind="purchase_order", system_id=systems["portal"].pk)
    assert picture() == merged and ObjectLink.objects.count() == links  # back where it was


@pytest.mark.django_db(transaction=True)
def test_saving_a_rule_re_keys_in_the_background_through_a_real_worker(systems, celery_worker_process):
    _portal_flow(systems)
    assert Trace.objects.count() == 2
    IdentifierRule.objects.create(system=systems["portal"], kind="purchase_order", strip_prefix="PO-")
    wait_for(lambda: Trace.objects.count() == 1, timeout=30, what="the rekey task to merge the traces")
    assert Trace.objects.get().root.key == PO_A
