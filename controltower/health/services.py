"""Recording worker heartbeats."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from controltower.changes import Kind, announce
from controltower.health.models import WorkerHeartbeat


def heartbeat_record(*, queue: str, hostname: str) -> WorkerHeartbeat:
    """Upsert the heartbeat row for `queue` and tell live status views after commit."""
    with transaction.atomic():
        beat, _ = WorkerHeartbeat.objects.update_or_create(
            queue=queue, defaults={"hostname": hostname, "seen_at": timezone.now()}
        )
        announce(Kind.STATUS_CHANGED)
    return beat
