"""Celery tasks run in a real worker process, on the configured broker."""

from __future__ import annotations

import pytest
from django.conf import settings

from controltower.health.models import WorkerHeartbeat
from controltower.health.tasks import heartbeat
from tests.conftest import start_celery_worker, wait_for

pytestmark = pytest.mark.worker


def test_heartbeat_task_runs_in_a_real_worker_process(celery_worker_process):
    queue = settings.CELERY_QUEUES["delivery"]
    heartbeat.apply_async(args=("delivery",), queue=queue)
    beat = wait_for(
        lambda: WorkerHeartbeat.objects.filter(queue=queue).first(),
        timeout=30,
        what=f"the worker to record a heartbeat\n{celery_worker_process.output()}",
    )
    assert beat.hostname.startswith("test-worker-")
    assert celery_worker_process.proc.pid != __import__("os").getpid()
    assert "controltower.health.heartbeat" in celery_worker_process.output()
    # Routed to its queue only: one run, not one per queue.
    __import__("time").sleep(2)
    runs = [
        line
        for line in celery_worker_process.output().splitlines()
        if "Task controltower.health.heartbeat[" in line and "] succeeded in" in line
    ]
    assert len(runs) == 1


def test_worker_records_a_heartbeat_on_every_queue_as_soon_as_it_connects(celery_worker_process):
    """/readyz needs no wait for beat's first heartbeat (30 s) to see a started worker."""
    wait_for(
        lambda: WorkerHeartbeat.objects.count() == len(settings.CELERY_QUEUES),
        timeout=20,
        what=f"the worker's heartbeats\n{celery_worker_process.output()}",
    )
    beats = {beat.queue: beat.hostname for beat in WorkerHeartbeat.objects.all()}
    assert set(beats) == set(settings.CELERY_QUEUES.values())
    assert all(hostname.startswith("test-worker-") for hostname in beats.values())


def test_a_connected_worker_keeps_its_heartbeat_fresh_without_beat(transactional_db, tmp_path):
    """Beat's heartbeat tasks wait behind a queue's backlog (and expire); the worker's own
    heartbeat says it is alive and connected regardless."""
    worker = start_celery_worker(tmp_path, HEARTBEAT_INTERVAL_SECONDS="1")
    try:
        queue = settings.CELERY_QUEUES["delivery"]
        first = wait_for(
            lambda: WorkerHeartbeat.objects.filter(queue=queue).first(), timeout=20, what="a heartbeat"
        )
        wait_for(
            lambda: WorkerHeartbeat.objects.get(queue=queue).seen_at > first.seen_at,
            timeout=20,
            what=f"a later heartbeat\n{worker.output()}",
        )
        assert "Task controltower.health.heartbeat[" not in worker.output(), "no beat, no heartbeat task"
    finally:
        worker.stop()
