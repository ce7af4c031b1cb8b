"""What the traces app announces (`controltower.changes`): a trace created, extended, turned late
or re-keyed away, and a delivery of one of its events changing — each after commit, scoped to
the trace's plant and supplier, and nothing for a write that changed nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from controltower.changes import Change, Kind, announce, changed
from controltower.traces.models import IdentifierRule, Trace
from controltower.traces.services import correlate_events
from controltower.traces.services.milestones import traces_mark_overdue
from controltower.traces.services.rekeying import identifiers_rekey
from integrations.delivery.models import Delivery, Target
from tests.traces.conftest import PO_A, cloudevent, example, ingest

# Real commits: announcements go out on commit, which a test wrapped in one transaction never reaches.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard():
    """The changes sent after each commit, in order (one list per `changed` signal)."""
    batches: list[list[Change]] = []

    def listen(sender, changes, **kwargs):
        batches.append(list(changes))

    changed.connect(listen, dispatch_uid="test-heard")
    try:
        yield batches
    finally:
        changed.disconnect(dispatch_uid="test-heard")


def released(po: str = PO_A, *, time: str = "2026-11-27T08:15:00Z", **data) -> dict:
    return cloudevent(
        "purchase_order.released",
        example("purchase_order.released", po_number=po, **data),
        source="ERP-CLOUD",
        time=time,
    )


def of(batches, kind: Kind) -> list[Change]:
    return [c for batch in batches for c in batch if c.kind == kind]


def test_a_new_trace_is_announced_once_after_commit_with_its_plant_and_supplier(
    systems, plants, suppliers, heard
):
    ids = ingest(systems["erp"], released())
    heard.clear()  # intake's own announcements are not ours
    with transaction.atomic():
        correlate_events(event_ids=ids)
        assert of(heard, Kind.TRACE_CHANGED) == []  # nothing before the commit
    trace = Trace.objects.get(root__key=PO_A)
    assert of(heard, Kind.TRACE_CHANGED) == [
        Change(
            Kind.TRACE_CHANGED,
            trace.pk,
            frozenset({plants["north"].pk}),
            frozenset({suppliers["acme"].pk}),
        )
    ]
    assert len(heard) == 1  # one signal for the whole transaction

    heard.clear()
    correlate_events(event_ids=ids)  # a repeat changes nothing, so says nothing
    assert of(heard, Kind.TRACE_CHANGED) == []


def test_a_rolled_back_correlation_announces_nothing(systems, heard):
    ids = ingest(systems["erp"], released())
    heard.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        correlate_events(event_ids=ids)
        raise RuntimeError("the worker died")
    assert heard == []


def test_a_confirmation_that_never_comes_turns_late_and_says_so(systems, heard):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ids = ingest(systems["erp"], released(time=now.isoformat().replace("+00:00", "Z")))
    correlate_events(event_ids=ids)
    trace = Trace.objects.get(root__key=PO_A)
    assert of(heard, Kind.MILESTONE_LATE) == []
    heard.clear()

    traces_mark_overdue(now=now + timedelta(hours=25))  # the 24 h confirmation budget is spent
    trace.refresh_from_db()
    assert trace.state == Trace.State.LATE
    assert [c.id for c in of(heard, Kind.MILESTONE_LATE)] == [trace.pk]
    assert [c.id for c in of(heard, Kind.TRACE_CHANGED)] == [trace.pk]

    heard.clear()
    traces_mark_overdue(now=now + timedelta(hours=26))  # still late: nothing new to say
    assert of(heard, Kind.MILESTONE_LATE) == []


def test_a_trace_rekeyed_away_is_announced_as_changed(systems, heard):
    """The portal spelled the PO `PO-…`: its confirmation made a trace of its own, which the new
    rule removes — viewers of that trace must see it go."""
    confirmation = cloudevent(
        "supplier.confirmation",
        example("supplier.confirmation", po_number=f"PO-{PO_A}"),
        source="PORTAL-ACME",
    )
    ids = ingest(systems["erp"], released()) + ingest(systems["portal"], confirmation)
    correlate_events(event_ids=ids)
    orphan = Trace.objects.get(root__key=f"PO-{PO_A}")
    IdentifierRule.objects.create(system=systems["portal"], kind="purchase_order", strip_prefix="PO-")
    heard.clear()
    identifiers_rekey(kind="purchase_order", system_id=systems["portal"].pk)
    announced = {c.id for c in of(heard, Kind.TRACE_CHANGED)}
    assert orphan.pk in announced
    assert Trace.objects.get(root__key=PO_A).pk in announced  # it gained the confirmation


def test_a_delivery_change_is_announced_as_a_change_of_its_events_traces(systems, heard):
    ids = ingest(systems["erp"], released())
    correlate_events(event_ids=ids)
    trace = Trace.objects.get(root__key=PO_A)
    target = Target.objects.create(code="erp-post", name="ERP", url="http://127.0.0.1:9/")
    delivery = Delivery.objects.create(
        event_id=ids[0], target=target, mapping="cloudevent", idempotency_key="k-1", type="x"
    )
    heard.clear()
    with transaction.atomic():  # as the delivery services do (integrations never name traces)
        announce(Kind.DELIVERY_CHANGED, delivery.pk, plant_ids=trace.plant_id)
        announce(Kind.DELIVERY_CHANGED, 987654)  # a delivery of no trace's event
    assert [c.id for c in of(heard, Kind.TRACE_CHANGED)] == [trace.pk]
    [trace_change] = of(heard, Kind.TRACE_CHANGED)
    assert trace_change.plant_ids == {trace.plant_id} and trace_change.supplier_ids == {trace.supplier_id}
