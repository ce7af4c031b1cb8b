"""Recording worker heartbeats."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from controltower.health.models import WorkerHeartbeat
from controltower.live import notify_after_commit


def heartbeat_record(*, queue: str, hostname: str) -> WorkerHeartbeat:
    """Upsert the heartbeat row for `queue` and tell live status views after commit."""
    with transaction.atomic():
        beat, _ = WorkerHeartbeat.objects.update_or_create(
            queue=queue, defaults={"hostname": hostname, "seen_at": timezone.now()}
        )
        notify_after_commit(group="status", event="status.changed")
    return beat
