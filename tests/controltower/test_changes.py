"""The change boundary (controltower/changes.py) and the one way to queue a task
(controltower/queueing.py), on real database transactions and a real broker connection."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from controltower.accounts.scope import FULL_SCOPE, NO_SCOPE, Scope
from controltower.changes import Change, Kind, announce, changed
from controltower.masterdata.models import Plant
from controltower.masterdata.services import plant_upsert
from controltower.queueing import enqueue, enqueue_after_commit

committed = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


@pytest.fixture
def heard():
    """Every `changed` signal sent while the test runs, as the list of changes it carried."""
    signals: list[list[Change]] = []

    def listener(sender, *, changes, **kwargs):
        signals.append(list(changes))

    changed.connect(listener, dispatch_uid="test-changes-heard")
    yield signals
    changed.disconnect(dispatch_uid="test-changes-heard")


def trace(pk: int, plant: int | None = None) -> Change:
    return Change(Kind.TRACE_CHANGED, pk, frozenset({plant} if plant else ()))


# --- after commit, once per transaction -------------------------------------------------------
@committed
def test_changes_are_sent_once_after_commit_carrying_all_of_them_deduplicated(heard):
    with transaction.atomic():
        plant = plant_upsert(code="P-ONE", name="One", region="EMEA", time_zone="UTC")
        announce(Kind.TRACE_CHANGED, 1, plant_ids=[plant.pk])
        announce(Kind.DELIVERY_CHANGED, 7)
        announce(Kind.TRACE_CHANGED, 1, plant_ids=[plant.pk])  # the same change again
        announce(Kind.TRACE_CHANGED, 2, plant_ids=plant.pk)
        assert heard == []  # nothing before the commit
    assert heard == [
        [trace(1, plant.pk), Change(Kind.DELIVERY_CHANGED, 7), trace(2, plant.pk)],
    ]


@committed
def test_a_rolled_back_transaction_sends_nothing(heard):
    with pytest.raises(Rollback), transaction.atomic():
        plant_upsert(code="P-GONE", name="Gone", region="EMEA", time_zone="UTC")
        announce(Kind.TRACE_CHANGED, 1)
        raise Rollback
    assert not Plant.objects.filter(code="P-GONE").exists()
    assert heard == []
    # ... and the next transaction starts clean: only its own change is sent
    with transaction.atomic():
        announce(Kind.TRACE_CHANGED, 2)
    assert heard == [[trace(2)]]


@committed
def test_a_rolled_back_savepoint_drops_only_its_own_changes(heard):
    with transaction.atomic():
        announce(Kind.TRACE_CHANGED, 1)
        with pytest.raises(Rollback), transaction.atomic():
            announce(Kind.TRACE_CHANGED, 2)
            announce(Kind.TRACE_CHANGED, 1)  # also announced outside: still sent
            raise Rollback
        with transaction.atomic():  # a savepoint that is released keeps its changes
            announce(Kind.TRACE_CHANGED, 3)
        announce(Kind.TRACE_CHANGED, 4)
    assert heard == [[trace(1), trace(3), trace(4)]]


@committed
def test_a_savepoint_rolled_back_after_the_last_announce_is_dropped_too(heard):
    with transaction.atomic():
        announce(Kind.TRACE_CHANGED, 1)
        with pytest.raises(Rollback), transaction.atomic():
            announce(Kind.TRACE_CHANGED, 2)
            raise Rollback
    assert heard == [[trace(1)]]


@committed
def test_changes_of_a_first_savepoint_rolled_back_are_not_sent_with_later_ones(heard):
    with transaction.atomic():
        with pytest.raises(Rollback), transaction.atomic():
            announce(Kind.TRACE_CHANGED, 1)
            raise Rollback
        announce(Kind.TRACE_CHANGED, 2)
    assert heard == [[trace(2)]]


@committed
def test_each_committed_transaction_sends_its_own_signal(heard):
    for pk in (1, 2):
        with transaction.atomic():
            announce(Kind.TRACE_CHANGED, pk)
    assert heard == [[trace(1)], [trace(2)]]


@committed
def test_outside_a_transaction_a_change_is_sent_at_once(heard):
    announce(Kind.SYSTEM_CHANGED, "erp", plant_ids=[None, 3], supplier_ids=None)
    assert heard == [[Change(Kind.SYSTEM_CHANGED, "erp", frozenset({3}))]]


@committed
def test_a_failing_listener_neither_reaches_the_caller_nor_stops_the_others(heard, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("listener bug")

    changed.connect(broken, dispatch_uid="test-changes-broken")
    try:
        with caplog.at_level(logging.WARNING):
            with transaction.atomic():
                plant_upsert(code="P-KEPT", name="Kept", region="EMEA", time_zone="UTC")
                announce(Kind.TRACE_CHANGED, 1)
            announce(Kind.TRACE_CHANGED, 2)  # and outside a transaction
    finally:
        changed.disconnect(dispatch_uid="test-changes-broken")
    assert Plant.objects.filter(code="P-KEPT").exists()
    assert heard == [[trace(1)], [trace(2)]]  # `heard` was connected first and still heard both
    failures = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(failures) == 2  # logged, once per signal


@committed
def test_a_listener_that_announces_in_its_own_transaction_is_heard_too(heard):
    def follow_up(sender, *, changes, **kwargs):
        if Change(Kind.DELIVERY_CHANGED, 1) in changes:
            with transaction.atomic():
                announce(Kind.TRACE_CHANGED, 9)

    changed.connect(follow_up, dispatch_uid="test-changes-follow-up")
    try:
        with transaction.atomic():
            announce(Kind.DELIVERY_CHANGED, 1)
    finally:
        changed.disconnect(dispatch_uid="test-changes-follow-up")
    assert heard == [[Change(Kind.DELIVERY_CHANGED, 1)], [trace(9)]]


# --- who may see a change ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (FULL_SCOPE, {"north": True, "south": True, "acme": True, "unscoped": True}),
        (Scope(plant_ids=frozenset({1})), {"north": True, "south": False, "acme": False, "unscoped": True}),
        (
            Scope(supplier_ids=frozenset({9})),
            {"north": False, "south": False, "acme": True, "unscoped": True},
        ),
        (NO_SCOPE, {"north": False, "south": False, "acme": False, "unscoped": True}),
    ],
    ids=["full", "plant", "supplier", "nothing"],
)
def test_visible_to_follows_the_page_scope_rule(scope, expected):
    changes = {
        "north": Change(Kind.TRACE_CHANGED, 1, plant_ids=frozenset({1})),
        "south": Change(Kind.TRACE_CHANGED, 2, plant_ids=frozenset({2})),
        # a plant-2 order with supplier 9: the supplier sees it, plant 1 does not
        "acme": Change(Kind.TRACE_CHANGED, 3, plant_ids=frozenset({2}), supplier_ids=frozenset({9})),
        "unscoped": Change(Kind.TARGET_CHANGED, 4),  # a delivery target belongs to nobody
    }
    assert {name: change.visible_to(scope) for name, change in changes.items()} == expected


def test_a_change_survives_the_trip_over_the_broker_as_json():
    change = Change(Kind.DEAD_LETTERED, 12, frozenset({3, 1}), frozenset({5}))
    assert Change.from_json(change.as_json()) == change


# --- queuing a task ---------------------------------------------------------------------------
@pytest.fixture
def task_on_a_dead_broker():
    """A real Celery task of an app whose broker nothing listens on (what an outage looks like);
    its own app, so the project's app and its connection pool are left as they are."""
    from celery import Celery

    app = Celery("dead-broker", broker="redis://127.0.0.1:9/0", set_as_current=False)
    app.conf.broker_connection_timeout = 0.5
    app.conf.task_publish_retry = False

    @app.task(name="tests.dead_broker", shared=False)
    def task(**kwargs):
        raise AssertionError("never runs: it is never queued")

    yield task
    app.close()


def test_enqueue_with_the_broker_down_returns_false_and_logs(task_on_a_dead_broker, caplog):
    with caplog.at_level(logging.WARNING, logger="controltower.queueing"):
        queued = enqueue(
            task_on_a_dead_broker, queue="delivery", if_lost="the next sweep sends it", delivery_id=3
        )
    assert queued is False
    [record] = caplog.records
    assert "could not queue tests.dead_broker {'delivery_id': 3}" in record.getMessage()
    assert "the next sweep sends it" in record.getMessage()


class RecordingTask:
    """Stands in for a Celery task's sending side only: what `apply_async` was asked to do."""

    name = "tests.recording"

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def apply_async(self, *, kwargs, queue, **options):
        self.sent.append({"kwargs": kwargs, "queue": queue, **options})


@committed
def test_enqueue_after_commit_sends_only_once_the_transaction_commits(settings):
    task = RecordingTask()
    with transaction.atomic():
        enqueue_after_commit(task, queue="delivery", delivery_id=5)
        assert task.sent == []
    assert task.sent == [{"kwargs": {"delivery_id": 5}, "queue": settings.CELERY_QUEUES["delivery"]}]


@committed
def test_enqueue_after_commit_sends_nothing_after_a_rollback():
    task = RecordingTask()
    with pytest.raises(Rollback), transaction.atomic():
        enqueue_after_commit(task, queue="delivery", delivery_id=5)
        raise Rollback
    with transaction.atomic():
        with pytest.raises(Rollback), transaction.atomic():
            enqueue_after_commit(task, queue="delivery", delivery_id=6)
            raise Rollback
    assert task.sent == []


@committed
def test_enqueue_after_commit_with_the_broker_down_does_not_fail_the_commit(task_on_a_dead_broker, caplog):
    with caplog.at_level(logging.WARNING, logger="controltower.queueing"):
        with transaction.atomic():
            plant_upsert(code="P-AFTER", name="After", region="EMEA", time_zone="UTC")
            enqueue_after_commit(task_on_a_dead_broker, queue="delivery", delivery_id=4)
    assert Plant.objects.filter(code="P-AFTER").exists()
    assert any("could not queue tests.dead_broker" in r.getMessage() for r in caplog.records)


@committed
def test_an_unknown_queue_is_a_bug_raised_in_the_caller_not_a_logged_outage(caplog):
    task = RecordingTask()
    with pytest.raises(KeyError):
        enqueue(task, queue="no-such-concern", delivery_id=5)
    with pytest.raises(KeyError), transaction.atomic():
        enqueue_after_commit(task, queue="no-such-concern", delivery_id=5)
    assert task.sent == [] and caplog.records == []
