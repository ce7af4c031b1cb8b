from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time a worker consumed the heartbeat task from one queue.

    Beat sends a heartbeat to every queue; a stale row means no worker serves that queue.
    """

    queue = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=255)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["queue"]

    def __str__(self) -> str:
        return f"{self.queue} @ {self.hostname}"
