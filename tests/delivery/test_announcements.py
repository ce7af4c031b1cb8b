"""What the delivery services announce through the change boundary, after commit: every
delivery whose status or attempts change (with its plant and supplier), a dead letter, a job's
progress from its start to its verification, a target's circuit."""

from __future__ import annotations

import pytest

from controltower.accounts.roles import Role
from controltower.changes import Change, Kind, changed
from integrations import signals
from integrations.delivery.models import Delivery, ReplayJob, Target
from integrations.delivery.services import jobs
from integrations.delivery.services.delivering import delivery_attempt
from tests.controltower.test_delivery_pages import ingest, north, send_all, south, subscribe, target

# Committed for real: what listeners hear is what each commit sends.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard():
    """The changes listeners hear, in order."""
    found: list[Change] = []

    def listen(sender, *, changes, **kwargs):
        found.extend(changes)

    changed.connect(listen, dispatch_uid="test-heard")
    yield found
    changed.disconnect(dispatch_uid="test-heard")


def of(heard: list[Change], kind: Kind) -> list[Change]:
    return [change for change in heard if change.kind == kind]


def about_deliveries(heard: list[Change]) -> list[Change]:
    """Without the target's changes (each refusal counts toward its circuit)."""
    return [change for change in heard if change.kind != Kind.TARGET_CHANGED]


def test_routed_deliveries_are_announced_once_per_scope(heard, network, plants, suppliers):
    subscribe(target("erp-post"), "purchase_order.released")
    subscribe(target("tms-feed"), "purchase_order.released")
    ingest(network["erp"], north("n-1"), north("n-2"), south("s-1"))
    assert Delivery.objects.count() == 6
    # Six rows, two scopes: the ids are not read back from the bulk insert, the scope is known.
    assert sorted(
        (sorted(c.plant_ids), sorted(c.supplier_ids)) for c in of(heard, Kind.DELIVERY_CHANGED)
    ) == sorted(
        [
            ([plants["north"].pk], [suppliers["acme"].pk]),
            ([plants["south"].pk], [suppliers["bolt"].pk]),
        ]
    )


def test_a_dead_letter_is_announced_with_its_scope_and_no_signal_is_left(heard, network, plants, suppliers):
    subscribe(target("erp-post"), "purchase_order.released")
    ingest(network["erp"], north("n-1"))
    dead = Delivery.objects.get()
    heard.clear()
    assert delivery_attempt(delivery_id=dead.pk) == "dead_lettered"
    scope = (frozenset({plants["north"].pk}), frozenset({suppliers["acme"].pk}))
    assert [(c.kind, c.id, c.plant_ids, c.supplier_ids) for c in about_deliveries(heard)] == [
        (Kind.DELIVERY_CHANGED, dead.pk, *scope),
        (Kind.DEAD_LETTERED, dead.pk, *scope),
    ]
    assert not hasattr(signals, "delivery_dead_lettered")  # replaced by the announcement


def test_nothing_is_heard_of_a_transaction_rolled_back(heard, network):
    from django.db import transaction

    subscribe(target("erp-post"), "purchase_order.released")
    ingest(network["erp"], north("n-1"))
    heard.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        delivery_attempt(delivery_id=Delivery.objects.get().pk)
        raise RuntimeError("rolled back")
    assert heard == []


def test_a_retry_job_is_announced_from_its_start_to_its_verification(heard, network, make_user, plants):
    subscribe(target("erp-post"), "purchase_order.released")
    ingest(network["erp"], north("n-1"), south("s-1"))
    assert send_all() == ["dead_lettered", "dead_lettered"]
    north_dead = Delivery.objects.get(event__event_id="n-1")
    user = make_user("olga", Role.OPERATOR)
    heard.clear()

    job = jobs.delivery_retry(delivery=north_dead, user=user, reason="port reopened")
    assert [(c.kind, c.id) for c in heard] == [(Kind.JOB_PROGRESS, job.pk)]

    heard.clear()
    jobs.replay_run(job_id=job.pk)  # running, items listed, the delivery handed over
    assert {(c.kind, c.id) for c in heard} == {
        (Kind.JOB_PROGRESS, job.pk),
        (Kind.DELIVERY_CHANGED, north_dead.pk),
    }
    handed = next(c for c in heard if c.kind == Kind.DELIVERY_CHANGED)
    assert handed.plant_ids == {plants["north"].pk}

    heard.clear()
    assert delivery_attempt(delivery_id=north_dead.pk) == "dead_lettered"  # refused again
    assert [(c.kind, c.id) for c in about_deliveries(heard)] == [
        (Kind.DELIVERY_CHANGED, north_dead.pk),
        (Kind.DEAD_LETTERED, north_dead.pk),
        (Kind.JOB_PROGRESS, job.pk),  # its item finished
        (Kind.JOB_PROGRESS, job.pk),  # and so the job (heard in a transaction of its own)
    ]
    job.refresh_from_db()
    assert job.state == ReplayJob.State.DONE

    heard.clear()
    jobs.replay_verify(job_id=job.pk)
    assert [(c.kind, c.id) for c in heard] == [(Kind.JOB_PROGRESS, job.pk)]


def test_a_cancelled_job_is_announced(heard, network, make_user):
    subscribe(target("erp-post"), "purchase_order.released")
    ingest(network["erp"], north("n-1"))
    send_all()
    user = make_user("olga", Role.OPERATOR)
    job = jobs.delivery_retry(delivery=Delivery.objects.get(), user=user)
    heard.clear()
    assert jobs.replay_cancel(job=job, user=user)
    assert [(c.kind, c.id) for c in heard] == [(Kind.JOB_PROGRESS, job.pk)]


def test_a_circuit_that_opens_is_announced_as_a_target_change(heard, network):
    erp = target("erp-post", max_attempts=5, circuit_threshold=1)
    subscribe(erp, "purchase_order.released")
    ingest(network["erp"], north("n-1"))
    heard.clear()
    assert delivery_attempt(delivery_id=Delivery.objects.get().pk) == "retrying"
    erp.refresh_from_db()
    assert erp.circuit == Target.Circuit.OPEN
    assert (Kind.TARGET_CHANGED, erp.pk) in [(c.kind, c.id) for c in heard]
