"""What the network's services announce to live pages (`controltower.changes`), with the scope
that lets a live page skip audiences that cannot see the object."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controltower.changes import Change, Kind, changed
from integrations.delivery.models import Resubmission, Target
from integrations.delivery.services.circuit import circuit_gate, circuit_record
from integrations.delivery.services.pausing import target_drain, target_pause, target_resume
from integrations.delivery.services.policy import Outcome
from integrations.delivery.services.resubmission import rejected_resubmit, resubmission_run
from integrations.models import RejectedMessage
from integrations.services import intake
from tests.factories import po_released, post_events

# Real commits: what listeners hear is what a committed transaction announced, once.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hearing():
    """`with hearing() as heard:` — `heard` lists the changes announced inside the block, as
    listeners hear them once the work commits (these tests commit for real)."""

    @contextmanager
    def hear() -> Iterator[list[Change]]:
        found: list[Change] = []

        def listen(sender, changes, **kwargs):
            found.extend(changes)

        changed.connect(listen, weak=False, dispatch_uid="test-hearing")
        try:
            yield found
        finally:
            changed.disconnect(dispatch_uid="test-hearing")

    return hear


def test_an_accepted_event_is_announced_with_its_plant_and_supplier_and_its_system(
    network, plants, suppliers, hearing
):
    with hearing() as heard:
        answer = post_events(Client(), network["erp"], po_released("4500000001", plant="P-NORTH"))
    assert answer.status_code == 202, answer.content
    assert (
        Change(
            Kind.EVENT_ACCEPTED,
            answer.json()["event"],
            plant_ids=frozenset({plants["north"].pk}),
            supplier_ids=frozenset({suppliers["acme"].pk}),
        )
        in heard
    )
    # The ERP serves every plant: its activity is not scoped.
    assert Change(Kind.SYSTEM_CHANGED, network["erp"].system.pk) in heard


def test_a_duplicate_announces_nothing(network, hearing):
    post_events(Client(), network["erp"], po_released(event_id="once"))
    with hearing() as heard:
        post_events(Client(), network["erp"], po_released(event_id="once"))
    assert heard == []


def test_a_refusal_is_announced_with_the_senders_plant(network, plants, hearing):
    with hearing() as heard:
        refused = post_events(Client(), network["mes_north"], po_released(source="MES-NORTH", po_number=""))
    assert refused.status_code == 400
    north = frozenset({plants["north"].pk})
    assert Change(Kind.MESSAGE_REJECTED, refused.json()["rejected_message"], plant_ids=north) in heard
    assert Change(Kind.SYSTEM_CHANGED, network["mes_north"].system.pk, plant_ids=north) in heard
    assert Kind.EVENT_ACCEPTED not in {change.kind for change in heard}


def test_announcing_adds_no_query_to_intake(network, monkeypatch):
    """Intake is the hot path: what it announces comes from memory, never from the database."""

    def queries_for(event_id: str) -> list[str]:
        client = Client()
        with CaptureQueriesContext(connection) as captured:
            answer = post_events(client, network["erp"], po_released(event_id=event_id))
        assert answer.status_code == 202
        return [query["sql"] for query in captured.captured_queries]

    queries_for("warm-up")  # caches (token, partners, routes) filled once
    with_announcing = queries_for("announced")
    monkeypatch.setattr(intake, "_announce", lambda *args, **kwargs: None)
    without = queries_for("silent")
    assert len(with_announcing) == len(without)


def test_a_resubmission_announces_its_original_when_queued_and_when_done(network, plants, operator, hearing):
    post_events(Client(), network["mes_north"], po_released(source="MES-NORTH", plant="P-ATLANTIS"))
    rejected = RejectedMessage.objects.get()
    assert rejected.plant_id == plants["north"].pk  # the sender's plant
    expected = Change(
        Kind.MESSAGE_CHANGED,
        rejected.pk,
        plant_ids=frozenset({rejected.plant_id}),
        supplier_ids=frozenset({rejected.supplier_id}) - {None},
    )
    fixed = rejected.body_text.replace("P-ATLANTIS", "P-NORTH")
    with hearing() as heard:
        resubmission = rejected_resubmit(
            rejected=rejected, body=fixed, reason="plant corrected", user=operator
        )
    assert heard == [expected]
    with hearing() as heard:
        assert resubmission_run(resubmission_id=resubmission.pk) == Resubmission.State.ACCEPTED
    assert expected in heard and Kind.EVENT_ACCEPTED in {change.kind for change in heard}
    with hearing() as heard:
        resubmission_run(resubmission_id=resubmission.pk)  # done already: nothing changes, nothing said
    assert heard == []


def make_target(**fields) -> Target:
    return Target.objects.create(code="erp-post", name="ERP", url="http://127.0.0.1:9/unused/", **fields)


def test_pausing_resuming_and_draining_a_target_are_announced(operator, hearing):
    target = make_target()
    said = [Change(Kind.TARGET_CHANGED, target.pk)]
    with hearing() as heard:
        assert target_pause(target=target, user=operator, reason="ERP maintenance")
    assert heard == said
    with hearing() as heard:
        assert not target_pause(target=target, user=operator, reason="again")  # no change, no word
    assert heard == []
    with hearing() as heard:
        assert target_resume(target=target, user=operator)
    assert heard == said
    with hearing() as heard:
        target_drain(target_id=target.pk)  # starts and ends "draining what waited"
    assert heard == said * 2


def test_the_circuit_opening_probing_and_closing_is_announced(hearing):
    target = make_target(circuit_threshold=2, circuit_probe_seconds=1)
    said = [Change(Kind.TARGET_CHANGED, target.pk)]
    now = timezone.now()
    down = Outcome(status_code=None, latency_ms=5, error_class="connection")
    with hearing() as heard:
        circuit_record(target=target, outcome=down, now=now)
    assert heard == []  # one failure: still closed
    target.refresh_from_db()
    with hearing() as heard:
        circuit_record(target=target, outcome=down, now=now)
    target.refresh_from_db()
    assert target.circuit == Target.Circuit.OPEN and heard == said
    with hearing() as heard:
        assert circuit_gate(target=target, now=now + timedelta(seconds=2)).probe  # half-open
    assert heard == said
    target.refresh_from_db()
    healthy = Outcome(status_code=200, latency_ms=5)
    with hearing() as heard:
        circuit_record(target=target, outcome=healthy, now=now)
    target.refresh_from_db()
    assert target.circuit == Target.Circuit.CLOSED and heard == said
    with hearing() as heard:
        circuit_record(target=target, outcome=healthy, now=now)
    assert heard == []  # a healthy target's hot path says nothing
