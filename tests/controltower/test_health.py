"""/healthz and /readyz, including a Redis that stops."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from controltower.accounts.roles import Role
from controltower.health.models import WorkerHeartbeat
from controltower.health.services import heartbeat_record
from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
def workers_seen():
    """Every queue served by a worker just now (as a worker records on connecting)."""
    for queue in settings.CELERY_QUEUES.values():
        heartbeat_record(queue=queue, hostname="worker@test")


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("ada", Role.ADMIN))
    return client


def test_readyz_is_green_with_configured_services(admin_client, workers_seen):
    response = admin_client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "channel_layer", "broker", "workers"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_reports_no_worker_seen_for_n_seconds_as_503(admin_client, workers_seen):
    stale = timezone.now() - timedelta(seconds=3 * settings.HEARTBEAT_INTERVAL_SECONDS + 25)
    delivery = settings.CELERY_QUEUES["delivery"]
    WorkerHeartbeat.objects.filter(queue=delivery).update(seen_at=stale)
    response = admin_client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["workers"]
    detail = body["checks"]["workers"]["detail"]
    assert re.fullmatch(rf"no worker seen on {delivery} for (11[5-9]|12\d) s", detail), detail


def test_readyz_without_any_worker_yet_is_not_ready(admin_client):
    response = admin_client.get("/readyz")
    assert response.status_code == 503
    assert "no worker seen on ingest yet" in response.json()["checks"]["workers"]["detail"]


@pytest.mark.parametrize("who", ["anonymous", "operator"])
def test_readyz_gives_only_the_status_to_anyone_but_a_signed_in_admin(client, operator, who):
    if who == "operator":
        client.force_login(operator)
    response = client.get("/readyz")  # no worker: 503, with reasons an admin would see
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    heartbeat_record(queue="ingest", hostname="w@h")
    assert "127.0.0.1" not in client.get("/readyz").content.decode()


@pytest.fixture
def redis_that_stops():
    """A real redis-server on a spare port, stopped half-way by the test (when installed)."""
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is None:  # no server here: an address where nothing answers is a stopped Redis too
        yield port, lambda: None
        return
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    import redis

    def up() -> bool:
        try:
            return redis.Redis(port=port, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    wait_for(up, timeout=10, what="redis-server")

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=10)

    try:
        yield port, stop
    finally:
        if proc.poll() is None:
            stop()


def test_readyz_reports_a_stopped_redis_as_503_with_the_reason(admin_client, workers_seen, redis_that_stops):
    client = admin_client
    port, stop = redis_that_stops
    url = f"redis://127.0.0.1:{port}/0"
    layers = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}
    with override_settings(CHANNEL_LAYERS=layers, CELERY_BROKER_URL=url):
        if shutil.which("redis-server"):
            assert client.get("/readyz").status_code == 200
        stop()
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["failed"] == ["channel_layer", "broker"]
    assert body["checks"]["database"]["ok"] is True
    for name in ("channel_layer", "broker"):
        assert "onnect" in body["checks"][name]["detail"] or "refused" in body["checks"][name]["detail"]
    assert elapsed < 10, "a dead dependency must not hang the probe"
