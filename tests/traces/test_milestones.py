"""Expected milestones, budgets and trace state, evaluated from correlated events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controltower.masterdata.models import Supplier
from controltower.traces.models import MilestoneBudget, Trace, TraceMilestone
from controltower.traces.services import correlate_events
from controltower.traces.services.milestones import trace_milestones_evaluate, traces_mark_overdue
from controltower.traces.tasks import mark_overdue
from tests.traces.conftest import PO_A, cloudevent, example, ingest

pytestmark = pytest.mark.django_db

# The release happens "now": correlation evaluates milestones against the real clock, so a fixed
# date would turn these traces at risk, then late, as the calendar moves on.
T0 = datetime.now(UTC).replace(second=0, microsecond=0)
ASN = "ASN-88123401"
GR = "GR-P-NORTH-0042"
_SOURCES = {"erp": "ERP-CLOUD", "portal": "PORTAL-ACME", "mes": "MES-NORTH", "tms": "TMS-CARRIER"}


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def iso(hours: float) -> str:
    return at(hours).isoformat().replace("+00:00", "Z")


def send(systems, system: str, type_: str, data: dict, hours: float) -> None:
    ids = ingest(systems[system], cloudevent(type_, data, source=_SOURCES[system], time=iso(hours)))
    correlate_events(event_ids=ids)


def release(systems, hours: float = 0) -> None:
    send(systems, "erp", "purchase_order.released", example("purchase_order.released"), hours)


def confirm(systems, hours: float) -> None:
    send(systems, "portal", "supplier.confirmation", example("supplier.confirmation"), hours)


def dispatch(systems, hours: float, eta_hours: float = 48) -> None:
    data = example("shipment.dispatched", purchase_orders=[PO_A], estimated_arrival=iso(eta_hours))
    data["lines"] = data["lines"][:2]
    send(systems, "portal", "shipment.dispatched", data, hours)


def arrive(systems, hours: float) -> None:
    data = {"shipment_id": ASN, "milestone": "delivered", "occurred_at": iso(hours)}
    send(systems, "tms", "shipment.milestone", data, hours)


def receive(systems, hours: float, **changes) -> None:
    data = example("goods.received", receipt_id=GR, purchase_orders=[PO_A], **changes)
    data = {k: v for k, v in data.items() if v is not None}
    data["lines"] = [line for line in data["lines"] if line["po_number"] == PO_A]
    send(systems, "mes", "goods.received", data, hours)


def post(systems, hours: float, status: str = "posted") -> None:
    data = {"transaction": "goods_receipt", "reference": GR, "status": status, "posted_at": iso(hours)}
    data.update(receipt_id=GR, po_number=PO_A, plant="P-NORTH")
    if status == "posted":
        data["document_number"] = "5000448120"
    else:
        data["error"] = {"code": "M7 021", "message": "Posting period closed", "retryable": True}
    send(systems, "erp", "erp.posting", data, hours)


def po_trace() -> Trace:
    return Trace.objects.get(root__key=PO_A)


def states(trace: Trace) -> dict[str, str]:
    return dict(TraceMilestone.objects.filter(trace=trace).values_list("code", "state"))


def test_a_complete_in_order_po_flow_ends_complete_with_every_milestone_done(systems):
    release(systems, 0)
    confirm(systems, 2)
    dispatch(systems, 24, eta_hours=48)
    arrive(systems, 46)
    receive(systems, 47)
    post(systems, 47.1)

    trace = po_trace()
    assert trace.state == Trace.State.COMPLETE
    assert trace.next_due_at is None
    rows = list(TraceMilestone.objects.filter(trace=trace).order_by("position"))
    assert [r.code for r in rows] == ["released", "confirmed", "shipped", "delivered", "received", "posted"]
    assert {r.state for r in rows} == {"done"}
    expected = {r.code: r.expected_by for r in rows}
    assert expected["confirmed"] == at(24)
    assert expected["delivered"] == at(48)  # the ASN's estimated arrival
    assert expected["received"] == at(46 + 24)
    assert expected["posted"] == at(47 + 0.25)
    assert all(r.event_id and r.done_at for r in rows)


def test_a_missing_confirmation_is_on_track_then_at_risk_then_late(systems):
    release(systems, 0)
    trace = po_trace()
    assert trace.state == Trace.State.ON_TRACK
    # 24 h budget: at risk in its last 20 % (4.8 h), so from 19.2 h after release.
    assert trace.next_due_at == at(24 - 4.8)

    assert traces_mark_overdue(now=at(10)) == 0
    assert traces_mark_overdue(now=at(20)) == 1
    trace.refresh_from_db()
    assert trace.state == Trace.State.AT_RISK
    assert trace.next_due_at == at(24) + timedelta(minutes=1)  # late once its minute has passed

    assert traces_mark_overdue(now=at(25)) == 1
    trace.refresh_from_db()
    assert trace.state == Trace.State.LATE
    assert states(trace)["confirmed"] == "late"
    assert trace.next_due_at is None  # nothing more changes with time alone

    confirm(systems, 30)  # arrives after its deadline: done, but late
    assert states(po_trace())["confirmed"] == "late"
    assert po_trace().state == Trace.State.LATE


def test_receipt_without_asn_leaves_shipped_missing_and_the_trace_in_exception(systems):
    release(systems, 0)
    confirm(systems, 2)
    receive(systems, 40, shipment_id=None)

    trace = po_trace()
    assert states(trace)["shipped"] == "missing"
    assert states(trace)["delivered"] == "skipped"  # carrier tracking is optional
    assert trace.state == Trace.State.EXCEPTION


def test_a_failed_erp_posting_puts_the_trace_in_exception_until_a_later_posting_succeeds(systems):
    release(systems, 0)
    confirm(systems, 2)
    dispatch(systems, 24)
    arrive(systems, 46)
    receive(systems, 47)
    post(systems, 47.1, status="failed")

    trace = po_trace()
    assert trace.state == Trace.State.EXCEPTION
    assert states(trace)["posted"] == "pending"

    post(systems, 47.2)
    assert po_trace().state == Trace.State.COMPLETE


def test_the_most_specific_budget_override_sets_expected_by(systems, network):
    acme = Supplier.objects.get(code="S-ACME")
    MilestoneBudget.objects.create(flow="procure_to_receive", milestone="confirmed", budget_minutes=60)
    MilestoneBudget.objects.create(
        flow="procure_to_receive", milestone="confirmed", supplier=acme, budget_minutes=48 * 60
    )
    release(systems, 0)

    trace = po_trace()
    assert trace.supplier_id == acme.pk
    confirmed = TraceMilestone.objects.get(trace=trace, code="confirmed")
    assert confirmed.expected_by == at(48)
    assert trace.next_due_at == at(48 - 48 * 0.2)


def test_evaluating_twice_changes_nothing(systems):
    release(systems, 0)
    confirm(systems, 2)
    dispatch(systems, 24)
    trace = po_trace()
    before = list(TraceMilestone.objects.filter(trace=trace).values())
    updated_at = trace.updated_at

    with CaptureQueriesContext(connection) as queries:
        trace_milestones_evaluate(traces=[trace], now=at(30))
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert list(TraceMilestone.objects.filter(trace=trace).values()) == before
    assert po_trace().updated_at == updated_at


def test_make_flow_states(systems):
    def mes(type_: str, hours: float, **changes) -> None:
        send(systems, "mes", type_, example(type_, **changes), hours)

    released = {k: v for k, v in example("production_order.released").items() if k != "customer_order"}
    send(systems, "mes", "production_order.released", released, 0)
    trace = Trace.objects.get(flow="make")
    assert trace.state == Trace.State.ON_TRACK
    assert trace.next_due_at == at(24 - 4.8)

    mes("production_order.started", 30)
    trace.refresh_from_db()
    assert states(trace) == {"released": "done", "started": "late", "completed": "pending"}
    assert trace.state == Trace.State.LATE

    mes("operation.completed", 40, final=False)
    assert states(trace)["completed"] == "pending"
    mes("operation.completed", 41, final=True, operation="0030")
    assert states(trace)["completed"] == "done"
    assert Trace.objects.get(pk=trace.pk).state == Trace.State.LATE  # late wins over complete


def test_mark_overdue_task_evaluates_due_traces(systems):
    two_days_ago = timezone.now() - timedelta(hours=48)
    # Released and evaluated two days ago; nothing has arrived since, so only time moved.
    with mock.patch("controltower.traces.services.milestones.timezone.now", return_value=two_days_ago):
        release(systems, (two_days_ago - T0).total_seconds() / 3600)
    assert po_trace().state == Trace.State.ON_TRACK
    assert mark_overdue() == 1
    assert po_trace().state == Trace.State.LATE
    assert mark_overdue() == 0


def test_a_receipt_without_carrier_tracking_is_not_an_exception(systems):
    """Carrier milestones are optional: many suppliers' carriers send none."""
    from controltower.traces.models import Trace, TraceMilestone
    from controltower.traces.services import correlate_events
    from tests.traces.conftest import PO_A, cloudevent, example, ingest

    erp = ingest(
        systems["erp"],
        cloudevent("purchase_order.released", example("purchase_order.released"), source="ERP-CLOUD"),
    )
    portal = ingest(
        systems["portal"],
        cloudevent(
            "supplier.confirmation",
            example("supplier.confirmation"),
            source="PORTAL-ACME",
            time="2026-11-27T09:00:00Z",
        ),
        cloudevent(
            "shipment.dispatched",
            example("shipment.dispatched", purchase_orders=[PO_A]),
            source="PORTAL-ACME",
            time="2026-11-27T10:00:00Z",
        ),
    )
    correlate_events(event_ids=erp + portal)
    receipt = ingest(
        systems["erp"],
        cloudevent(
            "goods.received", example("goods.received"), source="ERP-CLOUD", time="2026-11-27T12:00:00Z"
        ),
    )
    correlate_events(event_ids=receipt)
    trace = Trace.objects.get(root__key=PO_A)
    states = dict(TraceMilestone.objects.filter(trace=trace).values_list("code", "state"))
    assert states["delivered"] == "skipped"
    assert trace.state != "exception"


@pytest.mark.parametrize("scope", ["default", "plant", "supplier", "both"])
def test_one_budget_per_milestone_and_scope_is_enforced_by_the_database(plants, suppliers, scope):
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    partners = {
        "default": {},
        "plant": {"plant": plants["north"]},
        "supplier": {"supplier": suppliers["acme"]},
        "both": {"plant": plants["north"], "supplier": suppliers["acme"]},
    }[scope]
    fields = {"flow": "procure_to_receive", "milestone": "confirmed", **partners}
    MilestoneBudget.objects.create(budget_minutes=60, **fields)
    with pytest.raises(ValidationError):
        MilestoneBudget(budget_minutes=90, **fields).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        MilestoneBudget.objects.create(budget_minutes=90, **fields)
    other = {"plant": plants["south"]} if scope != "plant" else {"supplier": suppliers["acme"]}
    MilestoneBudget.objects.create(budget_minutes=90, **{**fields, **other})  # another scope is fine


def test_a_milestone_done_within_its_deadline_minute_is_on_time(systems):
    """Deadlines are shown to the minute: "expected 00:26, done 00:26:27" is on time, and a
    deadline computed with seconds is kept to its minute."""
    send(systems, "erp", "purchase_order.released", example("purchase_order.released"), 0 + 10 / 3600)
    confirmed = TraceMilestone.objects.get(trace=po_trace(), code="confirmed")
    assert confirmed.expected_by == at(24)  # released at :10 s, 24 h budget: due at the minute

    confirm(systems, 24 + 27 / 3600)  # 27 s into the deadline's minute
    confirmed.refresh_from_db()
    assert confirmed.state == "done" and po_trace().state != Trace.State.LATE


def test_a_milestone_done_in_a_later_minute_than_its_deadline_is_late(systems):
    release(systems, 0)
    confirm(systems, 24 + 1 / 60)
    assert states(po_trace())["confirmed"] == "late"


def test_a_late_trace_says_which_milestone_is_due_when_and_that_none_came(systems):
    release(systems, 0)
    traces_mark_overdue(now=at(25))
    reason = po_trace().reason
    assert reason == {
        "cause": "late",
        "milestone": "Supplier confirmed",
        "due": at(24),
        "at": None,
        "detail": "",
    }

    confirm(systems, 30)
    reason = po_trace().reason
    assert (reason["cause"], reason["milestone"], reason["at"]) == ("late", "Supplier confirmed", at(30))


def test_an_exception_trace_names_its_missing_milestone_or_failed_posting(systems):
    release(systems, 0)
    confirm(systems, 2)
    receive(systems, 40, shipment_id=None)
    reason = po_trace().reason
    assert (reason["cause"], reason["milestone"]) == ("missing", "Shipped (ASN)")

    post(systems, 41, status="failed")
    reason = po_trace().reason
    assert reason["cause"] == "posting_failed" and reason["detail"] == f"{GR}: M7 021 Posting period closed"


def _make_order(systems) -> Trace:
    released = {k: v for k, v in example("production_order.released").items() if k != "customer_order"}
    send(systems, "mes", "production_order.released", released, 0)
    send(systems, "mes", "production_order.started", example("production_order.started"), 1)
    send(systems, "mes", "operation.completed", example("operation.completed", final=True), 5)
    return Trace.objects.get(flow="make")


def _quality(systems, action: str, hours: float) -> None:
    order = example("production_order.released")["production_order"]
    data = example("quality.exception", action=action, occurred_at=iso(hours), production_order=order)
    data.pop("po_number"), data.pop("receipt_id"), data.pop("supplier")
    send(systems, "mes", "quality.exception", data, hours)


def test_an_open_quality_hold_keeps_a_finished_order_in_exception(systems):
    trace = _make_order(systems)
    trace.refresh_from_db()
    assert trace.state == Trace.State.COMPLETE

    _quality(systems, "hold", 5.2)
    trace.refresh_from_db()
    assert trace.state == Trace.State.EXCEPTION
    assert trace.reason["cause"] == "quality_hold" and trace.open_quality_holds == 1


def test_a_released_quality_hold_completes_the_trace_and_stays_on_record(systems):
    trace = _make_order(systems)
    _quality(systems, "hold", 5.2)
    _quality(systems, "release", 6)
    trace.refresh_from_db()
    assert trace.state == Trace.State.COMPLETE
    [hold] = trace.quality
    assert hold["held_at"] == at(5.2) and hold["released_at"] == at(6) and hold["lot"]
    assert trace.open_quality_holds == 0
