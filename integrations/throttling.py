"""Per-token rate limit for source systems: a fixed one-minute window in the shared cache.

With Redis configured the window is shared by every web process; answers 429 with Retry-After.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from integrations.models import SystemToken


class SystemTokenRateThrottle(BaseThrottle):
    window_seconds = 60

    def allow_request(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, SystemToken):
            return True
        limit = token.rate_limit_per_minute or settings.INTAKE_RATE_LIMIT_PER_MINUTE
        if not limit:
            return True
        now = time.time()
        window = int(now // self.window_seconds)
        key = f"ct:intake-rate:{token.pk}:{window}"
        cache.add(key, 0, timeout=self.window_seconds * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr: start the window again
            cache.set(key, 1, timeout=self.window_seconds * 2)
            count = 1
        self._wait = (window + 1) * self.window_seconds - now
        return count <= limit

    def wait(self) -> float:
        return getattr(self, "_wait", self.window_seconds)
