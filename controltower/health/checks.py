"""Readiness checks: can this process reach the database, channel layer and Celery broker, and
has a worker served every queue lately?

Each check is bounded in time and reports why it failed, so `/readyz` can tell an operator
which dependency is down instead of hanging or answering a bare 503.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from controltower.celery import app as celery_app
from controltower.health.models import WorkerHeartbeat

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    milliseconds: float

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.milliseconds, 1)}


def _timed(name: str, probe) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # a readiness probe reports any failure, it never raises
        ok, detail = False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, WorkersMissing):
            detail = str(exc)
    return CheckResult(name, ok, detail, (time.perf_counter() - started) * 1000)


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return f"{connection.vendor} reachable"


def _channel_layer() -> str:
    layer = get_channel_layer()

    async def round_trip() -> None:
        channel = await layer.new_channel("health.")
        await layer.send(channel, {"type": "health.ping"})
        await layer.receive(channel)

    async def bounded() -> None:
        await asyncio.wait_for(round_trip(), CHECK_TIMEOUT_SECONDS)

    async_to_sync(bounded)()
    return f"{type(layer).__name__} round trip ok"


def _broker() -> str:
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_SECONDS
        )
        return f"{conn.transport_cls} broker reachable"


def _workers() -> str:
    """Every queue has been served by a worker within three heartbeat intervals (a worker
    records one when it connects, and beat sends one per queue every interval)."""
    statuses = worker_status()
    stale = [status for status in statuses if not status.fresh]
    if not stale:
        return f"workers seen on {len(statuses)} queues"
    now = timezone.now()
    parts = [
        f"no worker seen on {status.queue} for {int((now - status.seen_at).total_seconds())} s"
        if status.seen_at
        else f"no worker seen on {status.queue} yet"
        for status in stale
    ]
    raise WorkersMissing("; ".join(parts))


class WorkersMissing(Exception):
    """No worker consumed from a queue lately (its heartbeat is stale)."""


def readiness() -> list[CheckResult]:
    return [
        _timed("database", _database),
        _timed("channel_layer", _channel_layer),
        _timed("broker", _broker),
        _timed("workers", _workers),
    ]


@dataclass(frozen=True)
class QueueStatus:
    queue: str
    hostname: str | None
    seen_at: object
    fresh: bool


def worker_status() -> list[QueueStatus]:
    """Each configured queue with its last heartbeat; fresh means within three intervals."""
    beats = {beat.queue: beat for beat in WorkerHeartbeat.objects.all()}
    stale_before = timezone.now() - timedelta(seconds=3 * settings.HEARTBEAT_INTERVAL_SECONDS)
    statuses = []
    for queue in settings.CELERY_QUEUES.values():
        beat = beats.get(queue)
        statuses.append(
            QueueStatus(
                queue=queue,
                hostname=beat.hostname if beat else None,
                seen_at=beat.seen_at if beat else None,
                fresh=bool(beat and beat.seen_at >= stale_before),
            )
        )
    return statuses
