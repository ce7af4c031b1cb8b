"""The change boundary sends what one transaction announced as ONE `changed` signal, after commit."""

from __future__ import annotations

import pytest
from django.db import transaction

from controltower.changes import Change, Kind, announce, changed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def signals():
    sent: list[list[Change]] = []

    def listen(sender, changes, **kwargs):
        sent.append(list(changes))

    changed.connect(listen, weak=False, dispatch_uid="test-signals")
    yield sent
    changed.disconnect(dispatch_uid="test-signals")


def test_a_transactions_changes_are_sent_once_together_after_commit(signals):
    with transaction.atomic():
        for pk in range(3):
            announce(Kind.EVENT_ACCEPTED, pk, plant_ids=7)
        announce(Kind.EVENT_ACCEPTED, 0, plant_ids=7)  # said twice, heard once
        assert signals == []
    assert signals == [[Change(Kind.EVENT_ACCEPTED, pk, plant_ids=frozenset({7})) for pk in range(3)]]


def test_a_rolled_back_transaction_says_nothing_and_the_next_one_is_heard(signals):
    with pytest.raises(RuntimeError), transaction.atomic():
        announce(Kind.TARGET_CHANGED, 1)
        raise RuntimeError
    assert signals == []
    with transaction.atomic():
        announce(Kind.TARGET_CHANGED, 2)
    assert signals == [[Change(Kind.TARGET_CHANGED, 2)]]
