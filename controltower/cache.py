"""A Redis cache that degrades instead of failing when Redis is unreachable.

The cache holds only what can be recomputed (token lookups, rate-limit counters, the sweeper's
start id, the subscriptions version), so during a Redis outage reads miss, writes are dropped,
and requests carry on against the database: intake keeps accepting events while Redis is down.
Each failure is logged at most once a minute per process, so an outage does not flood the logs.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_LOG_EVERY_SECONDS = 60.0


class ResilientRedisCache(RedisCache):
    _last_warning = 0.0

    def _degrade(self, operation: str, fallback: Any) -> Any:
        now = time.monotonic()
        if now - ResilientRedisCache._last_warning > _LOG_EVERY_SECONDS:
            ResilientRedisCache._last_warning = now
            logger.warning("cache: Redis unreachable (%s); carrying on without the cache", operation)
        return fallback

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except _UNREACHABLE:
            return self._degrade("get", default)

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except _UNREACHABLE:
            return self._degrade("get_many", {})

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set(key, value, timeout, version)
        except _UNREACHABLE:
            return self._degrade("set", None)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except _UNREACHABLE:
            return self._degrade("set_many", list(data))

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except _UNREACHABLE:
            return self._degrade("add", False)

    def incr(self, key, delta=1, version=None):
        # Raises like a missing key would, so callers' "no counter" paths take over.
        try:
            return super().incr(key, delta, version)
        except _UNREACHABLE:
            self._degrade("incr", None)
            raise ValueError(f"cache unavailable: {key!r} not counted") from None

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except _UNREACHABLE:
            return self._degrade("delete", False)

    def delete_many(self, keys, version=None):
        try:
            return super().delete_many(keys, version)
        except _UNREACHABLE:
            return self._degrade("delete_many", None)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except _UNREACHABLE:
            return self._degrade("touch", False)

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except _UNREACHABLE:
            return self._degrade("has_key", False)

    def clear(self):
        try:
            return super().clear()
        except _UNREACHABLE:
            return self._degrade("clear", None)
