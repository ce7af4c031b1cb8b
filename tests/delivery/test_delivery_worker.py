"""Deliveries through a real Celery worker, over real HTTP to a sandbox target served by our own
ASGI app in another process: retries, dead letters, 4xx, pause and drain, the circuit."""

from __future__ import annotations

import pytest

from integrations.delivery.models import Delivery, DeliveryAttempt, Target
from integrations.delivery.services.pausing import target_pause, target_resume
from integrations.sandbox.selectors import sandbox_receipts_in_arrival_order
from integrations.sandbox.services import sandbox_receiver_upsert
from tests.conftest import wait_for
from tests.factories import po_released, post_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def erp(asgi_server, make_target, subscribe):
    """A sandbox ERP receiving purchase orders, signed with HMAC on both sides."""
    sandbox_receiver_upsert(code="erp", error_rate=0.0, auth_kind="hmac", secret="s3cret")
    target = make_target(
        "erp-post",
        url=f"{asgi_server}/sandbox/erp/",
        auth=Target.Auth.HMAC,
        secret="s3cret",
        max_attempts=3,
        backoff_seconds=0.3,
        backoff_max_seconds=2.0,
    )
    subscribe(target, "purchase_order.released")
    return target


def _post(client, network, *event_ids: str) -> None:
    for event_id in event_ids:
        response = post_events(
            client, network["erp"], po_released(po=f"45{event_id[-8:]:0>8}", event_id=event_id)
        )
        assert response.status_code in (200, 201, 202), response.content


def _settled(status: str, count: int = 1):
    return lambda: Delivery.objects.filter(status=status).count() == count


def test_a_delivery_reaches_the_target_once_with_its_idempotency_key(
    client, network, erp, celery_worker_process
):
    _post(client, network, "evt-00000001")
    wait_for(_settled("delivered"), timeout=30, what=f"delivery\n{celery_worker_process.output()}")
    delivery = Delivery.objects.get()
    [receipt] = sandbox_receipts_in_arrival_order(receiver="erp")
    assert receipt.idempotency_key == delivery.idempotency_key and receipt.times_received == 1
    assert receipt.event_id == "evt-00000001"
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.cause, attempt.status_code, attempt.outcome) == ("first", 201, "delivered")


def test_a_target_answering_500_is_retried_with_backoff_then_dead_lettered(
    client, network, erp, celery_worker_process
):
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=500)
    _post(client, network, "evt-00000002")
    wait_for(_settled("dead_lettered"), timeout=60, what=f"dead letter\n{celery_worker_process.output()}")
    delivery = Delivery.objects.get()
    attempts = list(DeliveryAttempt.objects.order_by("number"))
    assert [a.status_code for a in attempts] == [500, 500, 500]
    assert [a.cause for a in attempts] == ["first", "retry", "retry"]
    assert {a.error_class for a in attempts} == {"http_5xx"}
    gaps = [
        (b.started_at - a.started_at).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)
    ]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.3  # equal jitter: at least half of 0.3 s, then of 0.6 s
    assert "gave up after 3 attempts" in delivery.dead_letter_reason
    assert not sandbox_receipts_in_arrival_order(receiver="erp").exists()  # no effect at the target


def test_a_400_is_dead_lettered_at_once_without_retrying(client, network, erp, celery_worker_process):
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=400)
    _post(client, network, "evt-00000003")
    wait_for(_settled("dead_lettered"), timeout=30, what=f"dead letter\n{celery_worker_process.output()}")
    assert DeliveryAttempt.objects.count() == 1
    assert "not retried" in Delivery.objects.get().dead_letter_reason


def test_a_paused_target_accumulates_and_drains_in_order_on_resume(
    client, network, erp, operator, celery_worker_process
):
    target_pause(target=erp, user=operator, reason="ERP maintenance window")
    ids = [f"evt-0000010{n}" for n in range(6)]
    _post(client, network, *ids)
    wait_for(_settled("paused", 6), timeout=30, what=f"parked deliveries\n{celery_worker_process.output()}")
    assert not sandbox_receipts_in_arrival_order(receiver="erp").exists()
    target_resume(target=erp, user=operator)
    wait_for(_settled("delivered", 6), timeout=60, what=f"the drain\n{celery_worker_process.output()}")
    received = list(sandbox_receipts_in_arrival_order(receiver="erp").values_list("event_id", flat=True))
    assert received == ids
    assert set(DeliveryAttempt.objects.values_list("cause", flat=True)) == {"drain"}


def test_the_circuit_opens_after_consecutive_failures_and_closes_after_a_good_probe(
    client, network, erp, celery_worker_process
):
    Target.objects.filter(pk=erp.pk).update(
        circuit_threshold=2,
        circuit_probe_seconds=3.0,
        max_attempts=20,
        backoff_seconds=0.2,
        backoff_max_seconds=0.4,
    )
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=503)
    _post(client, network, "evt-00000004")
    wait_for(
        lambda: Target.objects.get(pk=erp.pk).circuit == "open",
        timeout=30,
        what=f"the circuit to open\n{celery_worker_process.output()}",
    )
    opened_with = DeliveryAttempt.objects.count()
    assert opened_with == 2
    sandbox_receiver_upsert(code="erp", error_rate=0.0)
    # While open, nothing is sent (the breaker's whole point); after the probe time, one probe.
    wait_for(_settled("delivered"), timeout=30, what=f"the probe\n{celery_worker_process.output()}")
    target = Target.objects.get(pk=erp.pk)
    assert (target.circuit, target.consecutive_failures) == ("closed", 0)
    attempts = list(DeliveryAttempt.objects.order_by("number"))
    assert len(attempts) == 3
    assert (attempts[2].started_at - attempts[1].started_at).total_seconds() >= 2.9
