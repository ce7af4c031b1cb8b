"""A web process opens a bounded number of PostgreSQL connections, whatever the load.

The real ASGI app under uvicorn in its own process, many concurrent clients over real HTTP, and
the connections counted where they live: PostgreSQL's `pg_stat_activity`, by the
`application_name` the server was given.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from django.db import connection

from integrations.models import Event
from tests.conftest import database_url_for_children, start_asgi_server
from tests.factories import po_released

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL sessions"),
]

CLIENTS = 32
REQUESTS = 96


class SessionCounter:
    """Samples, every few milliseconds, how many sessions carry one application name."""

    def __init__(self, application_name: str) -> None:
        self.application_name = application_name
        self.highest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        url = database_url_for_children().rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(url, autocommit=True) as conn:
            while not self._stop.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    [self.application_name],
                ).fetchone()
                self.highest = max(self.highest, count)
                self._stop.wait(0.005)

    def __enter__(self) -> SessionCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def serve(tmp_path, **env: str) -> tuple[object, str, str]:
    """uvicorn on the test database under an application name of its own, with only `env` set
    beyond what a deployment sets (DATABASE_POOL is left to the entry point's default)."""
    name = f"ct-pool-{uuid.uuid4().hex[:8]}"
    server, base_url = start_asgi_server(
        tmp_path, DATABASE_URL=f"{database_url_for_children()}?application_name={name}", **env
    )
    return server, base_url, name


def post_concurrently(base_url: str, sender, prefix: str) -> list[httpx.Response]:
    headers = {**sender.headers, "Content-Type": "application/cloudevents+json"}

    def post(i: int) -> httpx.Response:
        body = json.dumps(po_released(event_id=f"{prefix}-{i}", po=f"45000{i:05d}"))
        return httpx.post(f"{base_url}/api/v1/events", content=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(post, range(REQUESTS)))


def assert_accepted_or_unavailable(responses: list[httpx.Response], prefix: str) -> None:
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {202, 503}, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["type"] == "/problems/service-unavailable"
            assert int(response.headers["Retry-After"]) > 0
    # Every 202 is stored; a 503 stored nothing.
    assert Event.objects.filter(event_id__startswith=f"{prefix}-").count() == statuses.count(202)


def test_asgi_server_never_opens_more_connections_than_its_pool_allows(tmp_path, network):
    server, base_url, name = serve(tmp_path, DATABASE_POOL_MAX_SIZE="3")
    try:
        with SessionCounter(name) as sessions:
            responses = post_concurrently(base_url, network["erp"], "bound")
    finally:
        server.stop()
    assert sessions.highest <= 3, f"{sessions.highest} sessions for a pool of 3"
    assert sessions.highest >= 1  # the counter did see the server's sessions
    assert_accepted_or_unavailable(responses, "bound")
    assert [r.status_code for r in responses].count(202) == REQUESTS  # 5 s of patience is plenty


def test_a_request_that_waits_too_long_for_a_connection_is_a_503_with_retry_after(tmp_path, network):
    server, base_url, name = serve(tmp_path, DATABASE_POOL_MAX_SIZE="1", DATABASE_POOL_TIMEOUT="0.01")
    try:
        with SessionCounter(name) as sessions:
            responses = post_concurrently(base_url, network["erp"], "starved")
        log = server.output()
    finally:
        server.stop()
    assert sessions.highest <= 1
    assert_accepted_or_unavailable(responses, "starved")
    statuses = [r.status_code for r in responses]
    assert statuses.count(503) > 0 and statuses.count(202) > 0, statuses
    assert "Traceback" not in log
