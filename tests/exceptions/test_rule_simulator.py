"""The simulator's fault mix makes every business-rule case: flows generated with each fault
certain, posted message by message through intake, correlated and evaluated by the real rules
code, open a case of each kind (and the outages switch a target down and back)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from controltower.traces.services.correlation import correlate_events
from exceptions.models import Case
from exceptions.rules import rules_follow, rules_scan
from integrations.models import Event, SourceSystem
from integrations.services.network import network_load
from integrations.services.tokens import system_token_create
from integrations.simulator.flows import FlowFactory
from integrations.simulator.model import FaultMix
from integrations.simulator.network import demo_network
from integrations.simulator.outages import FIRST_AFTER_FLOWS, Outages

pytestmark = pytest.mark.django_db

BUSINESS_FAULTS = FaultMix(
    **{
        **vars(FaultMix.none()),
        "date_conflicts": 1.0,
        "asn_mismatch": 1.0,
        "quantity_mismatch": 1.0,
        "production_at_risk": 1.0,
        "quality_holds": 1.0,
        "reconciliation": 1.0,
    }
)


def _post(client, tokens, step) -> int | None:
    response = client.post(
        "/api/v1/events",
        json.dumps(step.payload),
        content_type="application/cloudevents+json",
        headers={"Authorization": f"Bearer {tokens[step.system]}"},
    )
    assert response.status_code in (200, 201, 202), response.content
    found = Event.objects.filter(source=step.payload["source"], event_id=step.payload["id"]).first()
    return found.pk if found else None


def test_each_business_fault_of_the_simulator_opens_its_kind_of_case(client):
    import random

    network_load(document=demo_network())
    tokens = {s.code: system_token_create(system=s)[1] for s in SourceSystem.objects.all()}
    factory = FlowFactory(random.Random(11), faults=BUSINESS_FAULTS, epcis_share=0.0)
    flows = [factory.next(start=timezone.now(), speed=60, kind="procure_to_receive") for _ in range(2)]
    unconfirmed = FaultMix(**{**vars(FaultMix.none()), "missing_confirmations": 1.0})
    flows.append(FlowFactory(random.Random(12), faults=unconfirmed).next(start=timezone.now(), speed=60))
    faults = {fault.split(":")[0] for flow in flows for fault in flow.faults}
    assert {
        "date conflict",
        "ASN mismatch",
        "production at risk",
        "quality hold",
        "reconciliation",
        "missing confirmation",
    } <= faults
    for flow in flows:
        for step in flow.steps:
            pk = _post(client, tokens, step)
            if pk is not None:  # each message as the task would see it: its event and its traces
                rules_follow(event_ids=[pk], trace_ids=correlate_events(event_ids=[pk]))
    rules_scan(now=timezone.now() + timedelta(minutes=20))
    kinds = set(Case.objects.values_list("kind", flat=True))
    assert {
        Case.Kind.DATE_CONFLICT,
        Case.Kind.QUANTITY_MISMATCH,
        Case.Kind.MISSING_MILESTONE,
        Case.Kind.PRODUCTION_AT_RISK,
        Case.Kind.QUALITY_HOLD,
        Case.Kind.RECONCILIATION,
    } <= kinds
    # The delayed shipment was delivered in the end: production is no longer at risk.
    assert set(Case.objects.filter(kind=Case.Kind.PRODUCTION_AT_RISK).values_list("state", flat=True)) == {
        "resolved"
    }


def test_without_business_faults_the_rules_stay_quiet_on_the_same_flows(client):
    import random

    network_load(document=demo_network())
    tokens = {s.code: system_token_create(system=s)[1] for s in SourceSystem.objects.all()}
    quiet = FaultMix(**{**vars(FaultMix.none())})
    factory = FlowFactory(random.Random(11), faults=quiet, epcis_share=0.0)
    flows = [factory.next(start=timezone.now(), speed=60, kind="procure_to_receive") for _ in range(2)]
    ids = [pk for flow in flows for step in flow.steps if (pk := _post(client, tokens, step))]
    rules_follow(event_ids=ids, trace_ids=correlate_events(event_ids=ids))
    rules_scan(now=timezone.now() + timedelta(minutes=20))
    # What the simulator does of its own accord is real, not noise: a supplier revising a date,
    # the ERP refusing a posting (its reconciliation case names the refusal).
    unexplained = [
        case.title
        for case in Case.objects.filter(state="open")
        if case.kind != Case.Kind.DATE_CONFLICT
        and not (case.kind == Case.Kind.RECONCILIATION and case.evidence.get("failed_postings"))
    ]
    assert not unexplained


def test_outages_take_one_target_down_early_and_bring_it_back():
    import random

    switched: list[tuple[str, bool]] = []
    outages = Outages(
        random.Random(1), 0.0001, switch=lambda code, down: switched.append((code, down)), seconds=60
    )
    for flow in range(1, FIRST_AFTER_FLOWS + 1):
        outages.flow_started(flow, now=float(flow))
    assert len(switched) == 1 and switched[0][1] is True
    outages.tick(now=FIRST_AFTER_FLOWS + 59.0)
    assert len(switched) == 1  # still down
    outages.tick(now=FIRST_AFTER_FLOWS + 60.0)
    assert switched[-1] == (switched[0][0], False)
    assert Outages(random.Random(1), 0.0, switch=lambda *_: switched.append(("x", True))).started == 0
