"""Listening to the change boundary: one rules task per committed batch of relevant changes."""

from __future__ import annotations

from typing import Any

from controltower.changes import Change, Kind

#: Which changes concern cases, and under which task argument their ids go.
FOLLOWED: dict[Kind, str] = {
    Kind.MESSAGE_REJECTED: "rejected_ids",
    Kind.MESSAGE_CHANGED: "rejected_ids",
    Kind.DEAD_LETTERED: "delivery_ids",
    Kind.DELIVERY_CHANGED: "delivery_ids",
}
# Fail fast when the broker is unreachable: this runs after the commit of whoever changed things
# (a request, a delivery worker), and the sweeper catches up anyway.
_PUBLISH_OPTIONS = {
    "retry": True,
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
}


def cases_follow_changes(sender: Any, changes: list[Change], **kwargs: Any) -> None:
    """Receiver of `controltower.changes.changed` (sent after commit): queue ONE `follow` task
    for the batch on the rules queue. A lost task is the sweeper's (`exceptions.sweep`)."""
    ids: dict[str, set[int]] = {"rejected_ids": set(), "delivery_ids": set()}
    for change in changes:
        name = FOLLOWED.get(change.kind)
        if name is None or change.id is None:
            continue
        try:
            ids[name].add(int(change.id))
        except (TypeError, ValueError):
            continue
    if not any(ids.values()):
        return
    from controltower.queueing import enqueue
    from exceptions.tasks import follow

    enqueue(
        follow,
        queue="rules",
        options=_PUBLISH_OPTIONS,
        **{name: sorted(values) for name, values in ids.items()},
    )
