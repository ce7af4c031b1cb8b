"""Routing at intake: outbox rows written with the event, one per subscribed target."""

from __future__ import annotations

import pytest

from integrations.delivery.models import Delivery, idempotency_key
from integrations.models import Event
from tests.factories import po_released, post_events

pytestmark = pytest.mark.django_db


def test_an_accepted_event_gets_one_delivery_per_subscribed_target(client, network, make_target, subscribe):
    erp, tms = make_target("erp-post"), make_target("tms-feed")
    subscribe(erp, "purchase_order.released")
    subscribe(erp, "purchase_order.released", "goods.received")  # overlaps: still one delivery
    subscribe(tms, "shipment.milestone")
    assert post_events(client, network["erp"], po_released(event_id="po-1")).status_code in (200, 201, 202)
    event = Event.objects.get()
    [delivery] = Delivery.objects.all()
    assert (delivery.event_id, delivery.target_id, delivery.status) == (event.pk, erp.pk, "pending")
    assert delivery.type == "purchase_order.released" and delivery.plant.code == "P-NORTH"
    assert delivery.idempotency_key == idempotency_key(
        target_code="erp-post", source="ERP-CLOUD", event_id="po-1"
    )


def test_a_duplicate_or_refused_event_writes_no_delivery(client, network, make_target, subscribe):
    subscribe(make_target(), "purchase_order.released")
    post_events(client, network["erp"], po_released(event_id="po-1"))
    post_events(client, network["erp"], po_released(event_id="po-1"))
    post_events(client, network["erp"], po_released(event_id="po-2", plant="P-ATLANTIS"))
    assert Delivery.objects.count() == 1


def test_plant_and_supplier_filters_pick_the_events(
    client, network, plants, suppliers, make_target, subscribe
):
    north_only = make_target("north-planning")
    subscribe(north_only, "purchase_order.released", plants=[plants["north"]])
    south_only = make_target("south-planning")
    subscribe(south_only, "purchase_order.released", plants=[plants["south"]])
    other_supplier = make_target("bolt-portal")
    subscribe(other_supplier, "purchase_order.released", suppliers=[suppliers["bolt"]])
    post_events(client, network["erp"], po_released(event_id="po-n"))  # P-NORTH, S-ACME
    assert set(Delivery.objects.values_list("target__code", flat=True)) == {"north-planning"}


def test_a_subscription_change_applies_to_the_next_event(client, network, make_target, subscribe):
    target = make_target()
    post_events(client, network["erp"], po_released(event_id="before"))
    subscribe(target, "purchase_order.released")
    post_events(client, network["erp"], po_released(event_id="after"))
    assert list(Delivery.objects.values_list("event__event_id", flat=True)) == ["after"]
    target.active = False
    target.save()
    post_events(client, network["erp"], po_released(event_id="while-inactive"))
    assert Delivery.objects.count() == 1
