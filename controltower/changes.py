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

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction
from django.dispatch import Signal


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


class _Mark:
    """A no-op on-commit callback standing for one announce. Django drops it from the
    transaction's callbacks when the savepoint it was registered in rolls back, and nothing else
    holds it, so a weak reference to it tells whether its change still stands."""

    __slots__ = ("__weakref__",)

    def __call__(self) -> None:
        pass


class _Send:
    """One transaction's changes and the on-commit callback (`run`) that sends them. The callback
    is registered before any of its marks, so when it runs every surviving mark is still held by
    the callbacks Django has yet to run. The connection only refers to the callback weakly: once
    Django drops it (a rollback) or has run it, the next announce starts afresh."""

    __slots__ = ("connection", "changes")

    def __init__(self, connection) -> None:
        self.connection = connection
        self.changes: dict[Change, list[weakref.ref[_Mark]]] = {}

    def add(self, change: Change) -> None:
        mark = _Mark()
        self.changes.setdefault(change, []).append(weakref.ref(mark))
        transaction.on_commit(mark, using=self.connection.alias)

    def run(self) -> None:
        # Detach first: a listener's own transaction announces into a new send, not this one.
        setattr(self.connection, _PENDING, None)
        _send([change for change, marks in self.changes.items() if any(mark() for mark in marks)])


# A weak reference to the on-commit callback (`_Send.run`) of the connection's current
# transaction, kept on the connection itself, which Django keeps per thread (and async context).
_PENDING = "_controltower_changes_send"


def _send(changes: list[Change]) -> None:
    # send_robust: a listener's failure is logged by Django and never reaches the business code
    # that committed, nor stops the other listeners.
    if changes:
        changed.send_robust(sender=Change, changes=changes)


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
    (at once outside a transaction). A change announced inside a savepoint that rolls back is
    not sent; the rest of the transaction's changes are."""
    change = Change(Kind(kind), id, _ids(plant_ids), _ids(supplier_ids))
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        _send([change])
        return
    ref = getattr(connection, _PENDING, None)
    callback = ref() if ref is not None else None
    if callback is None:
        callback = _Send(connection).run
        setattr(connection, _PENDING, weakref.ref(callback))
        # robust: whatever happens in it, the other on-commit callbacks (queued tasks) still run
        transaction.on_commit(callback, using=connection.alias, robust=True)
    callback.__self__.add(change)
