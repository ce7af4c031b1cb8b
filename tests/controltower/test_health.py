"""/healthz and /readyz, including a Redis that stops."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from django.test import override_settings

from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_green_with_configured_services(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "channel_layer", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


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


def test_readyz_reports_a_stopped_redis_as_503_with_the_reason(client, redis_that_stops):
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
