"""Routing: which targets receive an event, written as outbox rows in the intake transaction.

Subscriptions are few and read on every intake, so their matching table is cached per
process and dropped (through a shared version number) whenever a subscription or target
changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from controltower.changes import Kind, announce
from controltower.queueing import enqueue
from integrations.delivery.models import Delivery, Subscription, Target, idempotency_key

logger = logging.getLogger(__name__)

_VERSION_KEY = "delivery:subscriptions-version"
_loaded: tuple[object, list[_Route]] | None = None
# Fail fast when the broker is unreachable: this runs in the request that stored the events.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
IDS_PER_DISPATCH = 500


@dataclass(frozen=True)
class _Route:
    subscription_id: int
    target_id: int
    target_code: str
    types: frozenset[str]
    plants: frozenset[int]
    suppliers: frozenset[int]
    mapping: str

    def matches(self, event: RoutedEvent) -> bool:
        return (
            event.type in self.types
            and (not self.plants or event.plant_id in self.plants)
            and (not self.suppliers or event.supplier_id in self.suppliers)
        )


@dataclass(frozen=True)
class RoutedEvent:
    """What routing needs of a stored event."""

    pk: int
    source: str
    event_id: str
    type: str
    plant_id: int | None
    supplier_id: int | None


def subscriptions_changed(**_: object) -> None:
    """Receiver for subscription/target saves: every process reloads on its next intake."""
    try:
        cache.set(_VERSION_KEY, timezone.now().isoformat(), timeout=None)
    except Exception:  # noqa: BLE001 — a cache outage must not fail an admin's save
        logger.warning("delivery: could not bump the subscriptions version", exc_info=True)
    global _loaded
    _loaded = None


def routes() -> list[_Route]:
    """Active subscriptions of active targets, cached per process until one changes."""
    global _loaded
    try:
        version = cache.get(_VERSION_KEY)
    except Exception:  # noqa: BLE001 — cache down: read the database every time
        version = object()
    if _loaded is not None and _loaded[0] == version and version is not None:
        return _loaded[1]
    found = []
    subscriptions = (
        Subscription.objects.filter(active=True, target__active=True)
        .select_related("target")
        .prefetch_related("plants", "suppliers")
    )
    for sub in subscriptions:
        found.append(
            _Route(
                subscription_id=sub.pk,
                target_id=sub.target_id,
                target_code=sub.target.code,
                types=frozenset(sub.event_types),
                plants=frozenset(p.pk for p in sub.plants.all()),
                suppliers=frozenset(s.pk for s in sub.suppliers.all()),
                mapping=sub.mapping,
            )
        )
    if version is None:
        version = timezone.now().isoformat()
        try:
            cache.add(_VERSION_KEY, version, timeout=None)
            version = cache.get(_VERSION_KEY)
        except Exception:  # noqa: BLE001
            version = None
    _loaded = (version, found)
    return found


def deliveries_route(*, events: Sequence[RoutedEvent]) -> int:
    """Write the outbox rows for newly stored `events`; must run inside their transaction.

    Guarantees: one `Delivery` per (target, event) whatever the number of matching
    subscriptions (the first wins) and however often this runs; the deliveries are published
    to the workers after commit (a broker failure is logged and left to the sweeper, never
    raised into the request) and announced (`Kind.DELIVERY_CHANGED`, without an id: the rows'
    keys are not read back; one change per plant and supplier they concern). Returns how many
    rows were written.
    """
    table = routes()
    if not table or not events:
        return 0
    now = timezone.now()
    rows: dict[tuple[int, int], Delivery] = {}
    for event in events:
        for route in table:
            if (route.target_id, event.pk) in rows or not route.matches(event):
                continue
            rows[(route.target_id, event.pk)] = _outbox_row(
                event,
                target_id=route.target_id,
                target_code=route.target_code,
                subscription_id=route.subscription_id,
                mapping=route.mapping,
                now=now,
            )
    return _outbox_write(list(rows.values()), events)


def deliveries_route_to(*, events: Sequence[RoutedEvent], target: Target, mapping: str) -> int:
    """Write outbox rows sending `events` to `target`, whatever the subscriptions say: for a
    message the tower addresses itself (a team's notification webhook). Must run inside the
    events' transaction; the same guarantees as `deliveries_route` (one row per target and
    event however often this runs, published after commit, a lost publish left to the sweeper)."""
    if not events or not target.active:
        return 0
    now = timezone.now()
    rows = [
        _outbox_row(
            event,
            target_id=target.pk,
            target_code=target.code,
            subscription_id=None,
            mapping=mapping,
            now=now,
        )
        for event in events
    ]
    return _outbox_write(rows, events)


def _outbox_row(
    event: RoutedEvent, *, target_id: int, target_code: str, subscription_id: int | None, mapping: str, now
) -> Delivery:
    return Delivery(
        event_id=event.pk,
        target_id=target_id,
        subscription_id=subscription_id,
        mapping=mapping,
        idempotency_key=idempotency_key(
            target_code=target_code, source=event.source, event_id=event.event_id
        ),
        type=event.type,
        plant_id=event.plant_id,
        supplier_id=event.supplier_id,
        created_at=now,
        round_started_at=now,
        next_attempt_at=now,
    )


def _outbox_write(rows: list[Delivery], events: Sequence[RoutedEvent]) -> int:
    if not rows:
        return 0
    Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1_000)
    for scope in {(row.plant_id, row.supplier_id) for row in rows}:
        announce(Kind.DELIVERY_CHANGED, plant_ids=scope[0], supplier_ids=scope[1])
    event_ids = sorted({event.pk for event in events})
    transaction.on_commit(lambda: deliveries_publish(event_ids=event_ids))
    return len(rows)


def deliveries_publish(*, event_ids: list[int]) -> None:
    """Queue one `dispatch` task per chunk of events; the worker fans out per delivery."""
    from integrations.delivery.tasks import dispatch

    for start in range(0, len(event_ids), IDS_PER_DISPATCH):
        chunk = event_ids[start : start + IDS_PER_DISPATCH]
        queued = enqueue(
            dispatch,
            queue="delivery",
            options={"retry": True, "retry_policy": PUBLISH_RETRY},
            if_lost=f"the sweeper sends the deliveries of these and {len(event_ids) - start - len(chunk)} more",
            event_ids=chunk,
        )
        if not queued:  # the broker is down: don't wait on it once per chunk
            return
