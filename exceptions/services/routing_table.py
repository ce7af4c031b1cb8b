"""The routing rules and handling times, read once per process rather than once per case.

Opening a case is on the rules task's hot path (a storm opens and folds thousands), while rules
and SLA policies change a few times a year in the admin. So each process keeps them in memory
and re-reads them when they change: a save or delete drops this process's copy and bumps a
shared version number in the cache, which every process compares with its copy's (one cache
read per case instead of two queries; as the delivery routing table does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from exceptions.models import RoutingRule, SlaPolicy

logger = logging.getLogger(__name__)

_VERSION_KEY = "exceptions:routing-version"


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[RoutingRule, ...]
    hours: dict[int, float]  # severity → handling hours, from the SLA policies


_loaded: tuple[object, RoutingTable] | None = None


def routing_changed(**_: object) -> None:
    """Receiver for saves and deletes of rules, policies and teams."""
    global _loaded
    _loaded = None
    try:
        cache.set(_VERSION_KEY, timezone.now().isoformat(), timeout=None)
    except Exception:  # noqa: BLE001 — a cache outage must not fail an admin's save
        logger.warning("exceptions: could not bump the routing version", exc_info=True)


def _version() -> object:
    try:
        version = cache.get(_VERSION_KEY)
        if version is None:
            cache.add(_VERSION_KEY, timezone.now().isoformat(), timeout=None)
            version = cache.get(_VERSION_KEY)
        return version
    except Exception:  # noqa: BLE001 — cache down: read the database every time
        return object()


def routing_table() -> RoutingTable:
    """The active rules (with their team and assignee) and the handling hours per severity."""
    global _loaded
    version = _version()
    if _loaded is not None and _loaded[0] == version:
        return _loaded[1]
    table = RoutingTable(
        rules=tuple(RoutingRule.objects.filter(active=True).select_related("team", "assignee")),
        hours={policy.severity: policy.hours for policy in SlaPolicy.objects.all()},
    )
    _loaded = (version, table)
    return table
