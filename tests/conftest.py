"""Shared fixtures: users per role, and real child processes (Celery worker, ASGI server)
pointed at the test database and the same broker/channel layer as the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from controltower.accounts.roles import Role
from controltower.accounts.services import user_upsert
from controltower.masterdata.services import plant_upsert, supplier_upsert

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"


def pytest_report_header(config) -> list[str]:
    db = settings.DATABASES["default"]
    return [
        f"controltower: database={db['ENGINE'].rsplit('.', 1)[-1]} "
        f"channel_layer={settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]} "
        f"broker={settings.CELERY_BROKER_URL.split('://')[0]}"
    ]


def pytest_sessionstart(session) -> None:
    """In CI the suite must run on PostgreSQL and Redis: refuse to run on the embedded defaults."""
    if not os.environ.get("CONTROLTOWER_REQUIRE_SERVICES"):
        return
    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at REDIS_URL is not reachable: {exc}")
    if problems:
        pytest.exit("CONTROLTOWER_REQUIRE_SERVICES is set but " + "; ".join(problems), returncode=3)


# --- people and master data ------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: cached ids (token lookups, the sweeper's start id)
    would otherwise outlive the rows a test rolled back (SQLite even reuses the ids)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def plants(db):
    return {
        "north": plant_upsert(code="P-NORTH", name="North plant", region="EMEA", time_zone="Europe/Berlin"),
        "south": plant_upsert(code="P-SOUTH", name="South plant", region="AMER", time_zone="America/Chicago"),
    }


@pytest.fixture
def suppliers(db):
    return {
        "acme": supplier_upsert(
            code="S-ACME", name="Acme Fasteners", region="EMEA", time_zone="Europe/Paris"
        ),
        "bolt": supplier_upsert(code="S-BOLT", name="Bolt & Nut", region="APAC", time_zone="Asia/Tokyo"),
    }


@pytest.fixture
def network(plants, suppliers):
    from tests.factories import build_network

    return build_network(plants, suppliers)


@pytest.fixture
def make_user(db):
    def make(username: str, *roles: Role, everything: bool = True, plants=(), suppliers=()):
        return user_upsert(
            username=username,
            password=PASSWORD,
            roles=roles,
            sees_all_partners=everything,
            plants=plants,
            suppliers=suppliers,
        )

    return make


@pytest.fixture
def viewer(make_user):
    return make_user("vera", Role.VIEWER)


@pytest.fixture
def operator(make_user):
    return make_user("otto", Role.OPERATOR)


# --- real child processes --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_children() -> str:
    """A DATABASE_URL for child processes that names the test database pytest-django made."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgresql://{auth}{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}/{params['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url_for_children(), "PYTHONUNBUFFERED": "1"}
    env.setdefault("DEBUG", "1")
    env.update(extra)
    return env


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}")


class ChildProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_celery_worker(
    log_dir: Path, *, name: str = "worker", purge: bool = True, **env: str
) -> ChildProcess:
    """A real `celery worker` (prefork, one child) on every queue, sharing the test database;
    returns once it is ready. `env` overrides variables (another broker, say)."""
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "controltower",
        "worker",
        "--loglevel=INFO",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname=test-{name}-{os.getpid()}@%h",
    ]
    if purge:
        # Tasks queued by earlier tests (their data is gone) must not reach this worker.
        from controltower.celery import app

        app.control.purge()
    worker = ChildProcess(args, child_env(**env), log_dir / f"{name}.log")
    wait_for(
        lambda: "ready." in worker.output() or worker.proc.poll() is not None,
        timeout=60,
        what="the Celery worker to start",
    )
    if worker.proc.poll() is not None:
        worker.stop()
        raise AssertionError(worker.output())
    return worker


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path) -> Iterator[ChildProcess]:
    """A real `celery worker` (prefork, one child) on every queue, sharing the test database."""
    worker = start_celery_worker(tmp_path)
    try:
        yield worker
    finally:
        worker.stop()


def start_asgi_server(log_dir: Path, *, port: int | None = None, **env: str) -> tuple[ChildProcess, str]:
    """The real ASGI app under uvicorn in its own process, listening (on `port`, or a free one:
    pass the port of a server stopped earlier to restart it); returns it and its URL."""
    port = port or free_port()
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "controltower.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
    ]
    server = ChildProcess(args, child_env(**env), log_dir / f"web-{port}.log")

    def answering() -> bool:
        if server.proc.poll() is not None:
            raise AssertionError(server.output())
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(answering, timeout=60, what="uvicorn to listen")
    except BaseException:
        server.stop()
        raise
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture
def asgi_server(transactional_db, tmp_path) -> Iterator[str]:
    """The real ASGI app under uvicorn in its own process; yields its base URL."""
    server, base_url = start_asgi_server(tmp_path)
    try:
        yield base_url
    finally:
        server.stop()


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of our own on a free port, which this test may stop and start again."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CONTROLTOWER_REQUIRE_SERVICES"):
            pytest.fail("redis-server is needed for the broker-outage test")
        pytest.skip("redis-server not installed")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    log = tmp_path / "redis.log"

    def start() -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=tmp_path, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: "Ready to accept connections" in log.read_text(), timeout=15, what="redis")
        return process

    state = {"process": start()}

    class Handle:
        url = f"redis://127.0.0.1:{port}/0"

        def stop(self) -> None:
            state["process"].terminate()
            state["process"].wait(timeout=10)

        def start(self) -> None:
            state["process"] = start()

    yield Handle()
    if state["process"].poll() is None:
        state["process"].terminate()
        state["process"].wait(timeout=10)
