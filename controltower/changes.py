"""The one change boundary: below the roof, code says "this changed" here, and only here.

A service calls `announce(kind, id, plant_ids=…, supplier_ids=…)` inside its transaction. Once the
transaction commits, everything announced in it is sent together as one `changed` signal; after a
rollback nothing is sent, so no listener ever sees a change that did not happen. Listeners live
above: the live views of the roof (`controltower.web.live`) and, later, exception rules. Intake,
traces and delivery never import them — they only announce.

A change is a hint, never data: a listener reads the current state itself. Announcing twice is
harmless, and the scope fields only let a listener skip audiences that cannot see the object.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)


class Kind(StrEnum):
    EVENT_ACCEPTED = "event.accepted"
    MESSAGE_REJECTED = "message.rejected"
    MESSAGE_CHANGED = "message.changed"  # a rejected message resubmitted, fixed or its outcome known
    TRACE_CHANGED = "trace.changed"
    MILESTONE_LATE = "milestone.late"
    DELIVERY_CHANGED = "delivery.changed"
    DEAD_LETTERED = "delivery.dead_lettered"
    JOB_PROGRESS = "job.progress"
    TARGET_CHANGED = "target.changed"
    SYSTEM_CHANGED = "system.changed"
    CASE_CHANGED = "case.changed"
    STATUS_CHANGED = "status.changed"  # platform health: dependencies, worker heartbeats


@dataclass(frozen=True)
class Change:
    kind: Kind
    id: int | str | None = None
    # The plants and suppliers the object belongs to; both empty means "not scoped" (everyone who
    # may see the kind at all may see it, e.g. a delivery target).
    plant_ids: frozenset[int] = frozenset()
    supplier_ids: frozenset[int] = frozenset()

    def visible_to(self, scope) -> bool:
        """Whether a `controltower.accounts.scope.Scope` could see the changed object."""
        if scope.everything or not (self.plant_ids or self.supplier_ids):
            return True
        return bool(self.plant_ids & scope.plant_ids or self.supplier_ids & scope.supplier_ids)

    def as_json(self) -> dict:
        return {
            "kind": self.kind.value,
            "id": self.id,
            "plants": sorted(self.plant_ids),
            "suppliers": sorted(self.supplier_ids),
        }

    @classmethod
    def from_json(cls, data: dict) -> Change:
        return cls(
            kind=Kind(data["kind"]),
            id=data.get("id"),
            plant_ids=frozenset(int(pk) for pk in data.get("plants", ())),
            supplier_ids=frozenset(int(pk) for pk in data.get("suppliers", ())),
        )


#: Sent once per committed transaction with `changes: list[Change]` (no duplicates, in order).
changed = Signal()

_local = threading.local()


class _Pending:
    """The changes announced in one transaction, sent by its on-commit callback."""

    def __init__(self) -> None:
        self.changes: dict[Change, None] = {}

    def send(self) -> None:
        if _local.__dict__.get("pending") is self:
            _local.pending = None
        changes = list(self.changes)
        for receiver, error in changed.send_robust(sender=Change, changes=changes):
            if error is not None:  # a listener's failure must never reach the business code
                logger.warning("change listener %r failed", receiver, exc_info=error)


def _ids(values: Iterable[int | None] | int | None) -> frozenset[int]:
    if values is None:
        return frozenset()
    if isinstance(values, int):
        return frozenset((values,))
    return frozenset(value for value in values if value is not None)


def announce(
    kind: Kind,
    id: int | str | None = None,  # noqa: A002 — the object's id, as listeners know it
    *,
    plant_ids: Iterable[int | None] | int | None = None,
    supplier_ids: Iterable[int | None] | int | None = None,
    using: str | None = None,
) -> None:
    """Say that `kind`/`id` changed; listeners hear it after the current transaction commits
    (at once outside a transaction)."""
    change = Change(Kind(kind), id, _ids(plant_ids), _ids(supplier_ids))
    connection = transaction.get_connection(using)
    pending = _local.__dict__.get("pending")
    # A rolled-back transaction drops its on-commit callbacks: start again when ours is gone.
    # (Compared with ==: each `pending.send` is a new bound method, never `is` the registered one.)
    send = pending.send if pending is not None else None
    if send is None or not any(call == send for _, call, *_ in connection.run_on_commit):
        pending = _Pending()
        pending.changes[change] = None
        if connection.in_atomic_block:
            _local.pending = pending
        transaction.on_commit(pending.send, using=using)
        return
    pending.changes[change] = None
