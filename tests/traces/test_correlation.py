"""Correlation: events naming the same business objects form one trace, whatever the order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controltower.traces.models import (
    BusinessObject,
    CorrelatedEvent,
    EventObject,
    IdentifierRule,
    ObjectLink,
    Trace,
    TraceEvent,
)
from controltower.traces.services import correlate_events
from controltower.traces.services.graph import Graph, trace_objects
from integrations.models import Event
from integrations.services.network import network_load
from integrations.simulator.flows import FaultMix, flows_generate
from integrations.simulator.network import demo_network
from tests.traces.conftest import PO_A, PO_B, cloudevent, example, ingest, picture

pytestmark = pytest.mark.django_db

ASN_1, ASN_2 = "ASN-88123401", "ASN-88123402"
TRACKING_2 = "JJD000390007499999"


def procure_events() -> dict[str, tuple[str, dict]]:
    """Two POs from S-ACME: a shipment serving both (ASN 1, its milestone and receipt) and, for
    PO A's remaining quantity of line 20, a second shipment (ASN 2, a milestone naming only its
    tracking number, and its receipt). {name: (system, CloudEvent)} in business order."""
    line_b = {
        "line": 10,
        "material": "RM-100412",
        "quantity": 120,
        "unit": "EA",
        "requested_date": "2026-12-14",
    }
    confirmed_b = {
        "line": 10,
        "material": "RM-100412",
        "status": "confirmed",
        "quantity": 120,
        "unit": "EA",
        "confirmed_date": "2026-12-14",
    }
    asn_2_line = {
        "line": 1,
        "po_number": PO_A,
        "po_line": 20,
        "material": "RM-100388",
        "quantity": 400,
        "unit": "EA",
    }
    receipt_2_line = {**asn_2_line, "condition": "good"}
    events = {
        "release_a": ("erp", "purchase_order.released", example("purchase_order.released")),
        "release_b": (
            "erp",
            "purchase_order.released",
            example("purchase_order.released", po_number=PO_B, lines=[line_b]),
        ),
        "confirm_a": ("portal", "supplier.confirmation", example("supplier.confirmation")),
        "confirm_b": (
            "portal",
            "supplier.confirmation",
            example("supplier.confirmation", po_number=PO_B, lines=[confirmed_b]),
        ),
        "asn_1": ("portal", "shipment.dispatched", example("shipment.dispatched")),
        "milestone_1": ("tms", "shipment.milestone", example("shipment.milestone")),
        "receipt_1": ("mes", "goods.received", example("goods.received")),
        "asn_2": (
            "portal",
            "shipment.dispatched",
            example(
                "shipment.dispatched",
                shipment_id=ASN_2,
                tracking_number=TRACKING_2,
                purchase_orders=[PO_A],
                lines=[asn_2_line],
            ),
        ),
        "milestone_2": (
            "tms",
            "shipment.milestone",
            {"tracking_number": TRACKING_2, "milestone": "in_transit", "occurred_at": "2026-12-01T10:00:00Z"},
        ),
        "receipt_2": (
            "mes",
            "goods.received",
            example(
                "goods.received",
                receipt_id="GR-P-NORTH-0043",
                shipment_id=ASN_2,
                purchase_orders=[PO_A],
                lines=[receipt_2_line],
            ),
        ),
    }
    return {
        name: (system, cloudevent(type_, data, source=_SOURCES[system], id=name))
        for name, (system, type_, data) in events.items()
    }


_SOURCES = {"erp": "ERP-CLOUD", "portal": "PORTAL-ACME", "mes": "MES-NORTH", "tms": "TMS-CARRIER"}
EXPECTED = {
    f"procure_to_receive:{PO_A}": {
        "release_a", "confirm_a", "asn_1", "milestone_1", "receipt_1", "asn_2", "milestone_2", "receipt_2",
    },
    f"procure_to_receive:{PO_B}": {"release_b", "confirm_b", "asn_1", "milestone_1", "receipt_1"},
}  # fmt: skip
ARRIVALS = {
    "in_order": list(procure_events()),
    "receipt_before_asn_before_confirmation": [
        "receipt_2", "receipt_1", "asn_2", "asn_1", "confirm_b", "confirm_a", "milestone_1",
        "milestone_2", "release_b", "release_a",
    ],
    "milestones_before_their_asn": [
        "milestone_1", "milestone_2", "release_a", "release_b", "confirm_a", "confirm_b", "asn_1",
        "receipt_1", "asn_2", "receipt_2",
    ],
    "reversed": list(reversed(procure_events())),
}  # fmt: skip


def arrive(systems, names: list[str]) -> dict[str, int]:
    """Each event arrives on its own and is correlated before the next one arrives."""
    events, stored = procure_events(), {}
    for name in names:
        system, event = events[name]
        (stored[name],) = ingest(systems[system], event)
        correlate_events(event_ids=[stored[name]])
    return stored


@pytest.mark.parametrize("order", list(ARRIVALS))
def test_arrival_order_does_not_change_trace_membership(systems, order):
    arrive(systems, ARRIVALS[order])
    assert picture() == EXPECTED


def test_milestone_before_its_asn_is_kept_and_joins_when_the_asn_links_it(systems):
    events = procure_events()
    (milestone,) = ingest(systems["tms"], events["milestone_1"][1])
    assert correlate_events(event_ids=[milestone]) == set()
    assert CorrelatedEvent.objects.filter(event_id=milestone).exists()
    assert BusinessObject.objects.filter(kind="shipment", key=ASN_1).exists()
    ingest_and_correlate = [ingest(systems[s], e)[0] for s, e in (events["release_a"], events["asn_1"])]
    correlate_events(event_ids=ingest_and_correlate)
    trace = Trace.objects.get(root__key=PO_A)
    assert TraceEvent.objects.filter(trace=trace, event_id=milestone).exists()


def test_multi_po_shipment_is_shared_but_each_po_keeps_its_own_events_and_lines(systems):
    stored = arrive(systems, ARRIVALS["in_order"])
    trace_a, trace_b = (Trace.objects.get(root__key=po) for po in (PO_A, PO_B))
    members_a = set(TraceEvent.objects.filter(trace=trace_a).values_list("event_id", flat=True))
    members_b = set(TraceEvent.objects.filter(trace=trace_b).values_list("event_id", flat=True))
    shared = {stored["asn_1"], stored["milestone_1"], stored["receipt_1"]}
    assert shared <= members_a & members_b
    assert stored["release_b"] not in members_a and stored["confirm_b"] not in members_a
    assert {stored["asn_2"], stored["receipt_2"]}.isdisjoint(members_b)

    spans = trace_objects(Graph(), roots=[trace_a.root_id, trace_b.root_id])
    lines = {
        root: set(BusinessObject.objects.filter(id__in=span, kind="po_line").values_list("key", flat=True))
        for root, span in spans.items()
    }
    assert lines[trace_a.root_id] == {f"{PO_A}/10", f"{PO_A}/20"}
    assert lines[trace_b.root_id] == {f"{PO_B}/10"}
    # The shared ASN links each PO to the shipment, never the two POs to each other.
    pos = BusinessObject.objects.filter(kind="purchase_order")
    assert not ObjectLink.objects.filter(low__in=pos, high__in=pos).exists()


def test_split_shipment_puts_both_shipments_and_receipts_in_the_po_trace(systems):
    arrive(systems, ARRIVALS["in_order"])
    trace = Trace.objects.get(root__key=PO_A)
    span = trace_objects(Graph(), roots=[trace.root_id])[trace.root_id]
    kinds = set(BusinessObject.objects.filter(id__in=span).values_list("kind", "key"))
    assert {("shipment", ASN_1), ("shipment", ASN_2), ("tracking_number", TRACKING_2)} <= kinds
    assert {("goods_receipt", "GR-DE10-250321-0042"), ("goods_receipt", "GR-P-NORTH-0043")} <= kinds


def test_trace_aggregates_come_from_its_events_and_the_root(systems, plants, suppliers):
    arrive(systems, ARRIVALS["reversed"])
    trace = Trace.objects.get(root__key=PO_A)
    members = TraceEvent.objects.filter(trace=trace).values("event_id")
    times = list(Event.objects.filter(id__in=members).values_list("event_time", flat=True))
    assert trace.flow == "procure_to_receive"
    assert (trace.plant, trace.supplier) == (plants["north"], suppliers["acme"])
    assert (trace.first_event_at, trace.last_event_at) == (min(times), max(times))
    assert trace.event_count == len(EXPECTED[f"procure_to_receive:{PO_A}"]) == len(times)


def test_identifier_aliases_from_erp_and_portal_join_one_trace(systems):
    IdentifierRule.objects.create(system=systems["portal"], kind="purchase_order", strip_prefix="PO-")
    release = cloudevent("purchase_order.released", example("purchase_order.released"), source="ERP-CLOUD")
    confirmation = cloudevent(
        "supplier.confirmation",
        example("supplier.confirmation", po_number=f"PO-{PO_A}"),
        source="PORTAL-ACME",
    )
    ids = ingest(systems["erp"], release) + ingest(systems["portal"], confirmation)
    correlate_events(event_ids=ids)
    (trace,) = Trace.objects.all()
    assert trace.root.key == PO_A
    assert set(TraceEvent.objects.filter(trace=trace).values_list("event_id", flat=True)) == set(ids)
    # Its lines ("PO-4500012345/10" as sent) are the ERP's lines too.
    assert BusinessObject.objects.filter(kind="po_line").count() == 2


def test_correlating_twice_or_a_duplicate_event_changes_nothing(systems):
    stored = arrive(systems, ARRIVALS["in_order"])
    models = (BusinessObject, EventObject, ObjectLink, Trace, TraceEvent, CorrelatedEvent)

    def snapshot():
        return {m.__name__: m.objects.count() for m in models}, list(
            Trace.objects.order_by("id").values_list("id", "event_count", "last_event_at", "updated_at")
        )

    before = snapshot()
    correlate_events(event_ids=list(stored.values()))
    system, event = procure_events()["asn_1"]
    assert ingest(systems[system], event) == [stored["asn_1"]]  # a duplicate: the stored event
    correlate_events(event_ids=[stored["asn_1"]])
    assert snapshot() == before


def test_production_and_customer_orders_get_their_own_traces(systems):
    mes = systems["mes"]
    make = [
        cloudevent("production_order.released", example("production_order.released"), source="MES-NORTH"),
        cloudevent("production_order.started", example("production_order.started"), source="MES-NORTH"),
        cloudevent("operation.completed", example("operation.completed"), source="MES-NORTH"),
        cloudevent("customer_shipment.confirmed", example("customer_shipment.confirmed"), source="MES-NORTH"),
    ]
    ids = ingest(mes, *make)
    correlate_events(event_ids=ids)
    traces = {t.flow: t for t in Trace.objects.select_related("root")}
    assert set(traces) == {"make", "order_to_ship"}
    assert traces["make"].root.key == "1000231" and traces["order_to_ship"].root.key == "SO-700934"
    members = {
        flow: set(TraceEvent.objects.filter(trace=t).values_list("event__type", flat=True))
        for flow, t in traces.items()
    }
    assert members["make"] == {"production_order.released", "production_order.started", "operation.completed"}
    # The release names the customer order it is made for, so the order's trace shows it too.
    assert members["order_to_ship"] == {"production_order.released", "customer_shipment.confirmed"}
    assert traces["make"].plant.code == "P-NORTH"


def test_simulated_flows_converge_whatever_order_they_are_correlated_in(db):
    """Realistic flows from the demo simulator: correlating event by event in business order or
    in reverse gives the same traces."""
    from integrations.models import SourceSystem

    network_load(document=demo_network())
    start = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    flows = flows_generate(6, seed=5, start=start, faults=FaultMix.none(), epcis_share=0.0)
    stored: list[int] = []
    by_code = {s.code: s for s in SourceSystem.objects.all()}
    for flow in flows:
        for step in flow.ordered().steps:
            if step.kind == "cloudevent":
                stored.extend(ingest(by_code[step.system], step.payload))

    def correlate_one_by_one(ids):
        for model in (TraceEvent, Trace, ObjectLink, EventObject, BusinessObject, CorrelatedEvent):
            model.objects.all().delete()
        for pk in ids:
            correlate_events(event_ids=[pk])
        return picture()

    in_order = correlate_one_by_one(stored)
    assert correlate_one_by_one(list(reversed(stored))) == in_order
    # An order-to-ship flow is keyed by its delivery; its trace by the customer order.
    assert {f"{flow.kind}:{flow.key}" for flow in flows if flow.kind != "order_to_ship"} <= set(in_order)
    assert all(in_order.values())
