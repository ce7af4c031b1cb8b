"""Announcing changes to live views (ground floor: any app may call this).

Services call `notify_after_commit` inside their transaction; once it commits, a small message
`{"type": event, "id": id}` goes to a channel-layer group. Consumers (in `controltower.web`) then
re-render the same partial the page uses, coalescing bursts, so a page never sees data that was
rolled back and a busy group never gets one message per event.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def notify(*, group: str, event: str, object_id: int | str | None = None) -> None:
    """Send now. A failing channel layer must never fail the business transaction."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": event, "id": object_id})
    except Exception:
        logger.warning("Live notification %s to %s was not sent", event, group, exc_info=True)


def notify_after_commit(*, group: str, event: str, object_id: int | str | None = None) -> None:
    transaction.on_commit(lambda: notify(group=group, event=event, object_id=object_id))
