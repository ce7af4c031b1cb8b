"""A per-target rate limit shared by every worker (fixed windows counted in the cache).

With Redis as the cache all workers share one count; with the per-process memory cache of the
embedded setup each worker process counts alone (one worker by default, so the same thing).
"""

from __future__ import annotations

import logging
import random
import time

from django.core.cache import cache

from integrations.delivery.models import Target

logger = logging.getLogger(__name__)


def rate_wait(*, target: Target) -> float:
    """0 when a delivery to `target` may go now (and counts it), else seconds to wait.

    Windows are one second, or `1/rate` seconds for rates under one per second. A cache
    outage lets deliveries through: the limit protects the target, but losing it must not stop
    deliveries.
    """
    rate = target.rate_per_second
    if not rate:
        return 0.0
    window = max(1.0, 1.0 / rate)
    allowed = max(1, int(rate * window))
    now = time.time()
    slot = int(now // window)
    key = f"delivery:rate:{target.pk}:{slot}"
    try:
        cache.add(key, 0, timeout=int(window) + 2)
        count = cache.incr(key)
    except Exception:  # noqa: BLE001 — cache down or key evicted between add and incr
        logger.warning("delivery: rate limit of %s not enforced (cache unavailable)", target.code)
        return 0.0
    if count <= allowed:
        return 0.0
    # Spread the overflow over the next windows rather than all at the next boundary.
    windows_ahead = (count - 1) // allowed
    return (slot + windows_ahead) * window - now + random.uniform(0, window / 4)
