"""The change boundary to the rules task: a batch of changes is one task, and a real Celery
worker opens, folds and self-resolves cases from what it reads."""

from __future__ import annotations

import json
import time

import pytest
from django.db import transaction

from controltower.changes import Kind, announce
from exceptions.models import Case
from integrations.delivery.models import Resubmission
from integrations.delivery.services.resubmission import rejected_resubmit
from tests.conftest import wait_for
from tests.exceptions.conftest import deliver_again
from tests.factories import po_released

pytestmark = pytest.mark.django_db(transaction=True)


def _follow_tasks(worker) -> int:
    return sum("exceptions.follow[" in line and "received" in line for line in worker.output().splitlines())


def _case(**filters) -> Case | None:
    return Case.objects.filter(**filters).first()


def test_changes_reach_cases_through_the_real_rules_task(
    refuse, dead_letter, stub_target, handler, celery_worker_process
):
    # Refused messages, announced as intake will: one transaction, one batch, one task.
    with transaction.atomic():
        refused = [refuse(event_id=f"w-{n}") for n in range(3)]
        for rejected in refused:
            announce(Kind.MESSAGE_REJECTED, rejected.pk, plant_ids=rejected.plant_id)
    case = wait_for(lambda: _case(kind="validation", occurrences=3), timeout=60, what="the validation case")
    assert case.state == "open"
    received = [
        line
        for line in celery_worker_process.output().splitlines()
        if "exceptions.follow[" in line and "received" in line
    ]
    assert len(received) == 1  # the batch of three was one task

    # A dead letter, then its delivery by a retry: the case opens, then resolves itself.
    delivery = dead_letter()
    announce(Kind.DEAD_LETTERED, delivery.pk, plant_ids=delivery.plant_id)
    wait_for(lambda: _case(kind="dead_letter", state="open"), timeout=60, what="the dead-letter case")
    deliver_again(delivery, stub_target)
    announce(Kind.DELIVERY_CHANGED, delivery.pk, plant_ids=delivery.plant_id)
    resolved = wait_for(
        lambda: _case(kind="dead_letter", state="resolved"), timeout=60, what="the case to resolve itself"
    )
    assert resolved.entries.first().action == "self_resolved"
    # Deliveries change all the time; one no case counts (any more) queues no task at all.
    tasks = _follow_tasks(celery_worker_process)
    announce(Kind.DELIVERY_CHANGED, delivery.pk, plant_ids=delivery.plant_id)
    time.sleep(2)
    assert _follow_tasks(celery_worker_process) == tasks

    # A refused message fixed and resubmitted: the resubmission runs in the worker (ingest
    # queue); its outcome announced, the case of that message loses an occurrence.
    fixed = po_released(event_id="w-0", source="MES-NORTH")
    resubmission = rejected_resubmit(
        rejected=refused[0], body=json.dumps(fixed), reason="fixed", user=handler
    )
    wait_for(
        lambda: Resubmission.objects.get(pk=resubmission.pk).state == Resubmission.State.ACCEPTED,
        timeout=60,
        what="the resubmission",
    )
    announce(Kind.MESSAGE_CHANGED, refused[0].pk, plant_ids=refused[0].plant_id)
    wait_for(
        lambda: case.occurrence_rows.filter(cleared_at__isnull=False).count() == 1,
        timeout=60,
        what="the occurrence to clear",
    )
    assert Case.objects.get(pk=case.pk).state == "open"  # two of its messages are still refused
