"""Correlation tasks: queued after intake commits, run idempotently, swept when missed."""

from __future__ import annotations

import logging
from unittest import mock

import pytest
from django.conf import settings
from kombu.exceptions import OperationalError as BrokerError

from controltower.traces.models import CorrelatedEvent, Trace, TraceEvent
from controltower.traces.services import events_correlate_pending
from controltower.traces.tasks import correlate, correlate_pending
from integrations.models import Event
from tests.traces.conftest import PO_A, cloudevent, example, ingest

pytestmark = pytest.mark.django_db


def po_events(count: int = 1) -> list[dict]:
    return [
        cloudevent(
            "purchase_order.released",
            example("purchase_order.released", po_number=str(int(PO_A) + n)),
            source="ERP-CLOUD",
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("broker", ["up", "down"])
def test_accepted_events_are_queued_on_the_rules_queue_and_a_broker_failure_never_reaches_intake(
    systems, django_capture_on_commit_callbacks, caplog, broker
):
    # The broker is outside this unit: only the publish call is replaced.
    failure = BrokerError("connection refused") if broker == "down" else None
    with mock.patch.object(correlate, "apply_async", side_effect=failure) as apply_async:
        with django_capture_on_commit_callbacks(execute=True), caplog.at_level(logging.WARNING):
            ids = ingest(systems["erp"], *po_events(2))
    apply_async.assert_called_once()
    assert apply_async.call_args.kwargs["kwargs"] == {"event_ids": ids}
    assert apply_async.call_args.kwargs["queue"] == settings.CELERY_QUEUES["rules"]
    assert Event.objects.count() == 2  # stored either way
    warned = any("sweeper" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warned is (broker == "down")


def test_correlate_task_runs_the_correlation(systems):
    ids = ingest(systems["erp"], *po_events(1))
    result = correlate.apply(kwargs={"event_ids": ids})
    assert result.successful(), result.traceback
    trace = Trace.objects.get(root__key=PO_A)
    assert list(TraceEvent.objects.filter(trace=trace).values_list("event_id", flat=True)) == ids
    assert correlate.apply(kwargs={"event_ids": ids}).successful()  # again: nothing changes
    assert TraceEvent.objects.count() == 1


def test_sweeper_is_scheduled_on_the_rules_queue():
    assert settings.CELERY_TASK_DEFAULT_QUEUE == settings.CELERY_QUEUES["rules"]  # for callers naming none
    entry = settings.CELERY_BEAT_SCHEDULE["traces-correlate-pending"]
    assert entry["task"] == correlate_pending.name == "controltower.traces.correlate_pending"
    assert entry["options"]["queue"] == settings.CELERY_QUEUES["rules"]


def test_sweeper_correlates_events_that_were_never_correlated(systems):
    ids = ingest(systems["erp"], *po_events(3))
    assert not CorrelatedEvent.objects.exists()  # nothing was queued: no commit in this test
    assert correlate_pending.run() == 3
    assert set(CorrelatedEvent.objects.values_list("event_id", flat=True)) == set(ids)
    assert Trace.objects.count() == 3
    assert correlate_pending.run() == 0


def test_sweeper_is_bounded_per_run_and_goes_oldest_first(systems):
    ids = ingest(systems["erp"], *po_events(5))
    assert events_correlate_pending(chunk_size=2, max_chunks=2) == 4
    assert set(CorrelatedEvent.objects.values_list("event_id", flat=True)) == set(sorted(ids)[:4])
    assert events_correlate_pending(chunk_size=2, max_chunks=2) == 1


def test_sweeper_skips_settled_events_once_they_are_correlated(systems):
    from datetime import timedelta

    from django.utils import timezone

    old = ingest(systems["erp"], *po_events(3))
    Event.objects.filter(pk__in=old).update(received_at=timezone.now() - timedelta(hours=1))
    assert events_correlate_pending() == 3
    late = ingest(systems["erp"], *po_events(1))  # a task lost for a recent event
    CorrelatedEvent.objects.filter(event_id=old[0]).delete()  # cannot happen: settled and correlated
    assert events_correlate_pending() == 1  # the recent one; the settled range is not read again
    assert CorrelatedEvent.objects.filter(event_id=late[0]).exists()
    assert not CorrelatedEvent.objects.filter(event_id=old[0]).exists()
