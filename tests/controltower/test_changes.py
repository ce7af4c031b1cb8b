"""The change boundary: one `changed` signal per committed transaction, without duplicates."""

from __future__ import annotations

import pytest
from django.db import transaction

from controltower.changes import Kind, announce, changed

pytestmark = pytest.mark.django_db


@pytest.fixture
def signals_heard():
    heard: list[list] = []

    def listen(sender, *, changes, **kwargs):
        heard.append([(change.kind, change.id) for change in changes])

    changed.connect(listen, dispatch_uid="test-signals-heard")
    yield heard
    changed.disconnect(dispatch_uid="test-signals-heard")


def test_a_transaction_sends_one_signal_with_each_change_once(
    signals_heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            for _ in range(3):
                announce(Kind.DELIVERY_CHANGED, 7, plant_ids=1)
            announce(Kind.JOB_PROGRESS, 2)
            announce(Kind.DELIVERY_CHANGED, 7, plant_ids=1)
    assert len(callbacks) == 1  # one on-commit callback, however many announcements
    assert signals_heard == [[(Kind.DELIVERY_CHANGED, 7), (Kind.JOB_PROGRESS, 2)]]


def test_a_rolled_back_savepoint_leaves_a_fresh_announcement_for_the_rest(
    signals_heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            with pytest.raises(RuntimeError), transaction.atomic():
                announce(Kind.DELIVERY_CHANGED, 1)
                raise RuntimeError("rolled back")
            announce(Kind.DELIVERY_CHANGED, 2)
    assert signals_heard == [[(Kind.DELIVERY_CHANGED, 2)]]
