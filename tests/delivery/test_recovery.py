"""Recovery with real processes: a worker killed mid-delivery, the broker (Redis) stopped while
events arrive, and jobs that must touch exactly their set and never double an effect."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from controltower.accounts.access import access_for
from integrations.delivery.models import Delivery, DeliveryAttempt, ReplayJob, Target
from integrations.delivery.selectors import DeliveryQuery
from integrations.delivery.services.jobs import replay_preview, replay_start
from integrations.delivery.services.outbox import deliveries_sweep
from integrations.sandbox.models import SandboxReceipt
from integrations.sandbox.selectors import sandbox_receipts_in_arrival_order
from integrations.sandbox.services import sandbox_receiver_upsert
from tests.conftest import (
    ChildProcess,
    child_env,
    start_asgi_server,
    start_celery_worker,
    wait_for,
)
from tests.factories import po_released, post_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _kill_hard(process: ChildProcess) -> None:
    """SIGKILL a Celery worker and its pool child: no shutdown, no acknowledgements."""
    children = Path(f"/proc/{process.proc.pid}/task/{process.proc.pid}/children").read_text().split()
    for pid in [*children, str(process.proc.pid)]:
        os.kill(int(pid), signal.SIGKILL)
    process.proc.wait(timeout=10)
    process.log.close()


def _target(url: str, make_target, subscribe, **fields) -> Target:
    target = make_target("erp-post", url=url, max_attempts=5, backoff_seconds=0.2, **fields)
    subscribe(target, "purchase_order.released")
    return target


def test_a_worker_killed_mid_delivery_leads_to_redelivery_with_the_same_key_and_one_effect(
    client, network, asgi_server, make_target, subscribe, tmp_path
):
    sandbox_receiver_upsert(code="erp", latency_ms=3000)  # the target is slow: kill while it works
    _target(f"{asgi_server}/sandbox/erp/", make_target, subscribe, timeout_seconds=4.0)
    first = start_celery_worker(tmp_path, name="doomed")
    post_events(client, network["erp"], po_released(event_id="evt-kill"))
    wait_for(lambda: DeliveryAttempt.objects.filter(outcome="sending").exists(), timeout=30, what="a send")
    time.sleep(1.0)  # the attempt row is written just before the POST: let the request go out
    _kill_hard(first)
    # The target finishes the request it was given: the effect happened, the worker never knew.
    wait_for(lambda: SandboxReceipt.objects.exists(), timeout=15, what="the target to act")

    second = start_celery_worker(tmp_path, name="survivor", purge=False)
    try:

        def redelivered() -> bool:
            deliveries_sweep()  # what beat runs every few seconds
            return Delivery.objects.filter(status="delivered").exists()

        wait_for(redelivered, timeout=60, interval=1.0, what=f"redelivery\n{second.output()}")
    finally:
        second.stop()
    delivery = Delivery.objects.get()
    [receipt] = sandbox_receipts_in_arrival_order(receiver="erp")
    assert receipt.idempotency_key == delivery.idempotency_key
    assert receipt.times_received == 2  # sent twice, acted on once
    assert list(DeliveryAttempt.objects.order_by("number").values_list("outcome", flat=True)) == [
        "interrupted",
        "delivered",
    ]


def test_with_redis_stopped_events_are_accepted_and_delivered_once_it_returns(
    client, network, make_target, subscribe, private_redis, tmp_path
):
    env = {"REDIS_URL": private_redis.url, "CONTROLTOWER_DELIVERY_SWEEP_SECONDS": "1"}
    web, base_url = start_asgi_server(tmp_path, **env)
    worker = start_celery_worker(tmp_path, purge=False, **env)
    beat = ChildProcess(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controltower",
            "beat",
            "--loglevel=INFO",
            f"--schedule={tmp_path / 'beat-schedule'}",
        ],
        child_env(**env),
        tmp_path / "beat.log",
    )
    try:
        sandbox_receiver_upsert(code="erp", error_rate=0.0)
        _target(f"{base_url}/sandbox/erp/", make_target, subscribe)
        private_redis.stop()
        import httpx

        for n in range(3):
            body = po_released(event_id=f"evt-outage-{n}")
            response = httpx.post(
                f"{base_url}/api/v1/events",
                json=body,
                headers={**network["erp"].headers, "Content-Type": "application/cloudevents+json"},
                timeout=30,
            )
            assert response.status_code in (200, 201, 202), response.text
        assert Delivery.objects.filter(status="pending").count() == 3  # kept in the outbox
        assert not SandboxReceipt.objects.exists()

        private_redis.start()
        wait_for(
            lambda: Delivery.objects.filter(status="delivered").count() == 3,
            timeout=90,
            interval=0.5,
            what="the three deliveries after Redis returned",
        )
        receipts = sandbox_receipts_in_arrival_order(receiver="erp")
        assert sorted(r.event_id for r in receipts) == [f"evt-outage-{n}" for n in range(3)]
        assert {r.times_received for r in receipts} == {1}
    finally:
        beat.stop()
        worker.stop()
        web.stop()


def _dead_letters(client, network, asgi_server, make_target, subscribe, count: int) -> Target:
    """`count` deliveries dead-lettered for real: the target refused them (400, not retried)."""
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=400)
    target = _target(f"{asgi_server}/sandbox/erp/", make_target, subscribe)
    for n in range(count):
        post_events(client, network["erp"], po_released(po=f"4500{n:06d}", event_id=f"evt-dl-{n}"))
    wait_for(
        lambda: Delivery.objects.filter(status="dead_lettered").count() == count,
        timeout=60,
        what="dead letters",
    )
    sandbox_receiver_upsert(code="erp", error_rate=0.0)  # the target is fixed
    return target


def test_a_bulk_retry_by_filter_touches_exactly_the_previewed_set(
    client, network, operator, asgi_server, make_target, subscribe, celery_worker_process
):
    _dead_letters(client, network, asgi_server, make_target, subscribe, 5)
    query = DeliveryQuery(target="erp-post")
    preview = replay_preview(kind="retry", query=query, access=access_for(operator))
    assert preview.count == 5
    # A dead letter that appears after the preview is not part of the previewed set.
    sandbox_receiver_upsert(code="erp", error_rate=1.0, error_status=400)
    post_events(client, network["erp"], po_released(po="4599999999", event_id="evt-late"))
    wait_for(
        lambda: Delivery.objects.filter(status="dead_lettered").count() == 6, timeout=30, what="late one"
    )
    sandbox_receiver_upsert(code="erp", error_rate=0.0)
    late = Delivery.objects.get(event__event_id="evt-late")
    Delivery.objects.filter(pk=late.pk).update(dead_lettered_at=timezone.now())  # after as_of, as it was

    job = replay_start(
        kind="retry", query=query, reason="ERP fixed", user=operator, as_of=preview.as_of, expected_count=5
    )
    wait_for(lambda: ReplayJob.objects.get(pk=job.pk).state == "done", timeout=60, what="the job")
    job.refresh_from_db()
    assert set(job.items.values_list("outcome", flat=True)) == {"delivered"} and job.items.count() == 5
    assert Delivery.objects.get(pk=late.pk).status == "dead_lettered"  # untouched
    wait_for(
        lambda: ReplayJob.objects.get(pk=job.pk).verified_at is not None, timeout=30, what="verification"
    )
    assert ReplayJob.objects.get(pk=job.pk).still_failing == 0
    assert sandbox_receipts_in_arrival_order(receiver="erp").count() == 5


def test_replaying_a_window_twice_yields_one_effect_per_event_at_the_target(
    client, network, operator, asgi_server, make_target, subscribe, celery_worker_process
):
    sandbox_receiver_upsert(code="erp", error_rate=0.0)
    _target(f"{asgi_server}/sandbox/erp/", make_target, subscribe)
    since = timezone.now()
    for n in range(4):
        post_events(client, network["erp"], po_released(po=f"4510{n:06d}", event_id=f"evt-rp-{n}"))
    wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 4, timeout=60, what="delivery")
    query = DeliveryQuery(target="erp-post", since=since, until=timezone.now())
    for run in (1, 2):  # "after an ERP restore", twice by mistake
        job = replay_start(kind="replay", query=query, reason=f"ERP restore, run {run}", user=operator)
        wait_for(
            lambda j=job: ReplayJob.objects.get(pk=j.pk).state == "done", timeout=60, what=f"replay {run}"
        )
    receipts = list(sandbox_receipts_in_arrival_order(receiver="erp"))
    assert len(receipts) == 4  # one effect per event
    assert {r.times_received for r in receipts} == {3}  # delivered, then replayed twice: same key
    assert DeliveryAttempt.objects.filter(cause="replay").count() == 8
    assert settings.CELERY_QUEUES["replay"]  # the jobs ran on their own queue


def test_after_redis_returns_stalled_deliveries_resume_in_seconds_not_after_the_sweep_grace(
    client, network, make_target, subscribe, private_redis, tmp_path
):
    """Production timings (sweep grace 60 s, no beat at all): publishes fail while Redis is down;
    the worker survives the outage, and on reconnecting asks for an immediate sweep, so the
    deliveries go out within seconds of Redis coming back."""
    env = {"REDIS_URL": private_redis.url, "CONTROLTOWER_DELIVERY_SWEEP_GRACE": "60"}
    web, base_url = start_asgi_server(tmp_path, **env)
    worker = start_celery_worker(tmp_path, purge=False, **env)
    try:
        sandbox_receiver_upsert(code="erp", error_rate=0.0)
        _target(f"{base_url}/sandbox/erp/", make_target, subscribe)
        private_redis.stop()
        import httpx

        for n in range(3):
            response = httpx.post(
                f"{base_url}/api/v1/events",
                json=po_released(event_id=f"evt-resume-{n}"),
                headers={**network["erp"].headers, "Content-Type": "application/cloudevents+json"},
                timeout=30,
            )
            assert response.status_code in (200, 201, 202), response.text
        time.sleep(3)  # the worker notices the lost connection and keeps retrying
        assert Delivery.objects.filter(status="pending").count() == 3

        private_redis.start()
        back = time.monotonic()
        wait_for(
            lambda: Delivery.objects.filter(status="delivered").count() == 3,
            timeout=25,
            interval=0.5,
            what=f"the deliveries within seconds of Redis returning\n{worker.output()[-3000:]}",
        )
        resumed_after = time.monotonic() - back
        assert resumed_after < 25
        assert worker.proc.poll() is None, "the lost connection did not end the worker"
        assert "sweeps queued" in worker.output()
        receipts = sandbox_receipts_in_arrival_order(receiver="erp")
        assert sorted(r.event_id for r in receipts) == [f"evt-resume-{n}" for n in range(3)]
    finally:
        worker.stop()
        web.stop()
