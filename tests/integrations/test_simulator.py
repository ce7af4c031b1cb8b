"""The demo simulator: valid, joined, reproducible flows, streamed through the public HTTP API."""

from __future__ import annotations

import json
import random
import re
import signal
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from controltower.masterdata.models import Plant
from integrations.adapters.epcis import epcis_capture_map
from integrations.contracts import contract_get, validate_data
from integrations.models import Event, EventIdentifier, RejectedMessage, SourceSystem, SystemToken
from integrations.services.network import network_load
from integrations.simulator.flows import FaultMix, Flow, flows_generate
from integrations.simulator.network import demo_network, system_codes
from integrations.simulator.runner import Simulator
from integrations.simulator.sender import BATCH, JSON_LD, STRUCTURED, plan_requests, read_answer

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
NO_FAULTS = FaultMix.none()


def generate(
    count: int = 120, *, seed: int = 11, faults: FaultMix = NO_FAULTS, epcis_share: float = 0.2
) -> list[Flow]:
    return flows_generate(count, seed=seed, start=START, speed=60, faults=faults, epcis_share=epcis_share)


def events(flow: Flow, type_: str | None = None) -> list[dict]:
    return [
        s.payload
        for s in flow.steps
        if s.kind == "cloudevent" and (type_ is None or s.payload["type"] == type_)
    ]


def asns(flow: Flow) -> list[dict]:
    """The flow's ASNs as shipment.dispatched data (EPCIS documents mapped as the tower maps them)."""
    found = [e["data"] for e in events(flow, "shipment.dispatched")]
    for step in flow.steps:
        if step.kind == "epcis":
            found += [m.data for m in epcis_capture_map(step.payload, plant="P", supplier="S").events]
    return found


def invalid(step) -> bool:
    if step.kind == "raw":
        try:
            json.loads(step.payload)
        except ValueError:
            return True
        return False
    return step.kind == "cloudevent" and bool(
        validate_data(contract_get(step.payload["type"]), step.payload["data"])
    )


# --- pure flows ------------------------------------------------------------------------------
def test_fault_free_flows_are_valid_cloudevents_with_unique_ids_from_registered_sources():
    flows = generate()
    sources, ids, types = set(system_codes()), [], set()
    for flow in flows:
        for event in events(flow):
            contract = contract_get(event["type"])
            assert validate_data(contract, event["data"]) == [], (flow.key, event)
            assert event["specversion"] == "1.0" and event["datacontenttype"] == "application/json"
            assert event["dataschema"] == contract.schema_uri and event["time"].endswith("Z")
            assert event["source"] in sources
            ids.append(event["id"])
            types.add(event["type"])
    assert len(ids) == len(set(ids))
    assert {
        "purchase_order.released",
        "supplier.confirmation",
        "shipment.dispatched",
        "shipment.milestone",
        "goods.received",
        "erp.posting",
        "integration.telemetry",
        "production_order.released",
        "production_order.started",
        "operation.completed",
        "inventory.transferred",
        "customer_shipment.confirmed",
        "quality.exception",
    } <= types
    assert {flow.kind for flow in flows} == {"procure_to_receive", "make", "order_to_ship"}


def test_epcis_asns_are_shipping_events_the_capture_mapper_accepts():
    documents = [s for flow in generate(40, epcis_share=1.0) for s in flow.steps if s.kind == "epcis"]
    assert documents
    for step in documents:
        assert step.payload["@context"] == ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
        result = epcis_capture_map(step.payload, plant="DE-STR", supplier="SUP-KANTO")
        assert result.errors == [] and [e.type for e in result.events] == ["shipment.dispatched"]
        assert result.events[0].data["purchase_orders"]


def test_asn_lines_reference_the_lines_of_the_flows_purchase_orders():
    for flow in generate():
        orders = {e["data"]["po_number"]: e["data"] for e in events(flow, "purchase_order.released")}
        lines = {(po, line["line"]): line for po, order in orders.items() for line in order["lines"]}
        for asn in asns(flow):
            assert set(asn["purchase_orders"]) <= set(orders)
            for line in asn["lines"]:
                if "po_number" in line:  # EPCIS ASNs name their POs, not PO lines
                    ordered = lines[(line["po_number"], line["po_line"])]
                    assert (line["material"], line["unit"]) == (ordered["material"], ordered["unit"])


def test_split_shipments_never_ship_more_than_ordered_and_one_asn_can_serve_two_pos():
    split = consolidated = False
    for flow in generate(200, epcis_share=0.0):
        ordered = {
            (e["data"]["po_number"], line["line"]): line["quantity"]
            for e in events(flow, "purchase_order.released")
            for line in e["data"]["lines"]
        }
        shipped: dict[tuple[str, int], float] = defaultdict(float)
        for asn in asns(flow):
            consolidated |= len(asn["purchase_orders"]) > 1
            for line in asn["lines"]:
                shipped[(line["po_number"], line["po_line"])] += line["quantity"]
        split |= len(asns(flow)) > 1
        assert all(quantity <= ordered[key] for key, quantity in shipped.items())
    assert split and consolidated


def test_receipts_reference_their_asn_and_receive_what_it_shipped():
    for flow in generate(epcis_share=0.0):
        shipments = {asn["shipment_id"]: asn for asn in asns(flow)}
        for receipt in [e["data"] for e in events(flow, "goods.received")]:
            asn = shipments[receipt["shipment_id"]]
            assert receipt["purchase_orders"] == asn["purchase_orders"]
            assert receipt["plant"] == asn["plant"] and receipt["supplier"] == asn["supplier"]
            received, sent = defaultdict(float), defaultdict(float)
            for line in receipt["lines"]:
                received[(line["po_number"], line["po_line"], line["material"])] += line["quantity"]
            for line in asn["lines"]:
                sent[(line["po_number"], line["po_line"], line["material"])] += line["quantity"]
            assert received == sent  # damaged goods are split off, never lost, without faults


def test_every_flow_carries_an_invalid_message_when_malformed_is_certain():
    for flow in generate(60, faults=FaultMix(**{**vars(NO_FAULTS), "malformed": 1.0})):
        assert sum(invalid(step) for step in flow.steps) == 1, flow.faults


def test_business_faults_appear_in_procure_to_receive_flows():
    certain = FaultMix(
        **{**vars(NO_FAULTS), "missing_confirmations": 1.0, "quantity_mismatch": 1.0, "delays": 1.0}
    )
    for flow in [f for f in generate(40, faults=certain, epcis_share=0.0) if f.kind == "procure_to_receive"]:
        assert len(events(flow, "supplier.confirmation")) < len(events(flow, "purchase_order.released"))
        milestones = [e["data"] for e in events(flow, "shipment.milestone")]
        assert any(m["milestone"] == "delayed" and "estimated_arrival" in m for m in milestones)
        sent = sum(line["quantity"] for asn in asns(flow) for line in asn["lines"])
        received = sum(
            line["quantity"] for e in events(flow, "goods.received") for line in e["data"]["lines"]
        )
        assert received != sent


def test_late_confirmations_arrive_after_the_goods_were_shipped():
    late = FaultMix(**{**vars(NO_FAULTS), "late_confirmations": 1.0})
    for flow in [f for f in generate(30, faults=late) if f.kind == "procure_to_receive"]:
        dues = {s.type: s.due for s in reversed(flow.steps)}  # first occurrence of each type
        last_confirmation = max(s.due for s in flow.steps if s.type == "supplier.confirmation")
        assert last_confirmation > min(dues.get("shipment.dispatched", 1e12), dues.get("epcis", 1e12))


def test_duplicates_repeat_an_event_id_and_out_of_order_holds_a_message_back():
    faults = FaultMix(**{**vars(NO_FAULTS), "duplicates": 1.0, "out_of_order": 1.0})
    for flow in generate(30, faults=faults):
        ids = [e["id"] for e in events(flow)]
        assert len(ids) == len(set(ids)) + 1
        assert any(f.startswith("out-of-order:") for f in flow.faults)


def test_the_same_seed_gives_the_same_flows():
    first, again, other = generate(25, seed=5), generate(25, seed=5), generate(25, seed=6)
    assert [f.steps for f in first] == [f.steps for f in again]
    assert [f.steps for f in first] != [f.steps for f in other]


def test_due_cloudevents_of_one_system_travel_as_one_batch_and_epcis_as_json_ld():
    flow = generate(1, epcis_share=1.0, faults=FaultMix(**{**vars(NO_FAULTS), "malformed": 1.0}))[0]
    requests = list(plan_requests(flow.steps, batch=True, rng=random.Random(1), binary_share=0.0))
    assert sum(len(r.steps) for r in requests) == len(flow.steps)
    for request in requests:
        assert len({s.system for s in request.steps}) == 1
        assert (
            request.content_type
            == {"batch": BATCH, "structured": STRUCTURED, "raw": STRUCTURED, "epcis": JSON_LD}[request.mode]
        )
    assert {r.mode for r in requests} >= {"batch", "epcis"}
    batch = next(r for r in requests if r.mode == "batch")
    assert read_answer(batch, 200, {"accepted": 2, "duplicate": 1, "rejected": 0}).duplicate == 1
    assert read_answer(batch, 401, {"detail": "bad token"}).http_errors == 1


def test_a_single_event_can_travel_in_binary_mode():
    step = next(s for s in generate(1)[0].steps if s.kind == "cloudevent")
    (request,) = plan_requests([step], batch=True, rng=random.Random(1), binary_share=1.0)
    assert request.mode == "binary" and request.content_type == "application/json"
    assert request.headers["ce-id"] == step.payload["id"] and request.headers["ce-source"] == step.system
    assert json.loads(request.body) == step.payload["data"]


# --- the runner without a server -------------------------------------------------------------
def unreachable_simulator(**options) -> tuple[Simulator, list[str]]:
    lines: list[str] = []
    simulator = Simulator(
        "http://127.0.0.1:9",
        dict.fromkeys(system_codes(), "cts_x"),
        random.Random(3),
        flows_per_minute=600,
        speed=36000,
        tick=0.05,
        log=lines.append,
        **options,
    )
    return simulator, lines


def test_the_simulator_survives_a_server_that_is_down():
    simulator, lines = unreachable_simulator(duration=1.0)
    stats = simulator.run()
    assert stats.retries >= 2 and stats.unsent > 0 and stats.tally.requests == 0
    assert any("not answering" in line for line in lines)


def test_the_simulator_stops_cleanly_on_sigterm():
    simulator, _ = unreachable_simulator(duration=30)
    before = signal.getsignal(signal.SIGTERM)
    threading.Timer(0.5, signal.raise_signal, args=(signal.SIGTERM,)).start()
    began = time.monotonic()
    stats = simulator.run()
    assert time.monotonic() - began < 5 and stats.flows_started > 0
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back


# --- database and HTTP -----------------------------------------------------------------------
@pytest.mark.django_db
def test_the_demo_network_loads_twice_without_change():
    first, second = network_load(document=demo_network()), network_load(document=demo_network())
    assert first == second == {"plants": 6, "suppliers": 12, "systems": 17}
    assert SourceSystem.objects.count() == 17
    erp = SourceSystem.objects.get(code="ERP-CLOUD")
    assert (erp.kind, erp.criticality, erp.owner_team) == ("erp", "critical", "ERP CoE")
    assert SourceSystem.objects.get(code="SUPPLIER-PORTAL").supplier is None
    assert SourceSystem.objects.get(code="WMS-DE-STR").plant.code == "DE-STR"
    assert Plant.objects.filter(gln="").count() == 0  # EPCIS documents name partners by GLN
    assert all(s.sources.get().source == s.code for s in SourceSystem.objects.all())


SUMMARY = re.compile(r"(\d+) accepted, (\d+) duplicate, (\d+) rejected \| http errors (\d+)")


def simulate(url: str, *options: str) -> dict[str, int]:
    out = StringIO()
    # Fast and bounded: 3 flows, 4 simulated hours per real second, never longer than a minute.
    fast = "--flows 3 --speed 14400 --seed 7 --flows-per-minute 600 --duration 60 --wait 10".split()
    call_command("simulate", "--url", url, *fast, *options, stdout=out)
    found = SUMMARY.search(out.getvalue().split("Summary:")[-1])
    assert found, out.getvalue()
    return dict(
        zip(("accepted", "duplicate", "rejected", "http_errors"), map(int, found.groups()), strict=True)
    )


@pytest.mark.django_db(transaction=True)
def test_simulate_streams_joined_flows_with_faults_into_the_tower(asgi_server):
    counts = simulate(asgi_server, "--epcis-share", "0", "--malformed", "1", "--duplicates", "1")
    stored = set(Event.objects.values_list("type", flat=True))
    assert {
        "purchase_order.released",
        "supplier.confirmation",
        "shipment.dispatched",
        "goods.received",
    } <= stored
    assert counts["accepted"] == Event.objects.count()
    assert counts["rejected"] == RejectedMessage.objects.count() >= 1
    assert counts["duplicate"] >= 1
    pos = [
        data["po_number"]
        for data in Event.objects.filter(type="purchase_order.released").values_list("data", flat=True)
    ]
    assert EventIdentifier.objects.filter(
        event__type="goods.received", kind="purchase_order", value__in=pos
    ).exists()
    assert SystemToken.objects.filter(name="simulator", revoked_at__isnull=True).count() == 17


@pytest.mark.django_db(transaction=True)
def test_simulate_without_faults_is_all_green(asgi_server):
    counts = simulate(asgi_server, "--no-faults", "--epcis-share", "0")
    assert counts["rejected"] == counts["duplicate"] == counts["http_errors"] == 0
    assert not RejectedMessage.objects.exists()
    assert counts["accepted"] == Event.objects.count() > 0


@pytest.mark.django_db(transaction=True)
def test_simulate_epcis_asns_are_accepted(asgi_server):
    counts = simulate(asgi_server, "--no-faults", "--epcis-share", "1", "--flows", "1")
    assert counts["rejected"] == counts["http_errors"] == 0
    assert Event.objects.filter(type="shipment.dispatched", mode=Event.Mode.EPCIS).exists()
