"""The change boundary: everything announced in one transaction is heard once, after commit."""

from __future__ import annotations

import pytest
from django.db import transaction

from controltower.changes import Change, Kind, announce, changed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard():
    batches: list[list[Change]] = []
    changed.connect(lambda sender, changes, **kw: batches.append(changes), weak=False, dispatch_uid="t-heard")
    yield batches
    changed.disconnect(dispatch_uid="t-heard")


def test_changes_announced_in_one_transaction_are_sent_as_one_batch_after_commit(heard):
    with transaction.atomic():
        announce(Kind.MESSAGE_REJECTED, 1, plant_ids=7)
        announce(Kind.MESSAGE_REJECTED, 2)
        announce(Kind.MESSAGE_REJECTED, 1, plant_ids=7)  # twice: once in the batch
        assert heard == []
    assert [[change.id for change in batch] for batch in heard] == [[1, 2]]


def test_a_rolled_back_transaction_sends_nothing_and_the_next_one_its_own(heard):
    with pytest.raises(RuntimeError), transaction.atomic():
        announce(Kind.CASE_CHANGED, 1)
        raise RuntimeError
    with transaction.atomic():
        announce(Kind.CASE_CHANGED, 2)
    assert [[change.id for change in batch] for batch in heard] == [[2]]
