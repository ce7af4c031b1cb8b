"""Retry policy: which failures are worth retrying, and when. Pure functions, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

# Error classes (`Delivery.error_class`, `DeliveryAttempt.error_class`, a filter of bulk retry).
TIMEOUT = "timeout"
CONNECTION = "connection"
HTTP_4XX = "http_4xx"
HTTP_408 = "http_408"
HTTP_429 = "http_429"
HTTP_5XX = "http_5xx"
PROTOCOL = "protocol"
ERROR_CLASSES = (TIMEOUT, CONNECTION, HTTP_4XX, HTTP_408, HTTP_429, HTTP_5XX, PROTOCOL)

# Longest Retry-After we honour: a target asking for a day gets the max-age rule instead.
MAX_RETRY_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt gave."""

    status_code: int | None
    latency_ms: int
    error_class: str = ""
    error: str = ""
    excerpt: str = ""
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """Worth another try: network trouble, 5xx, 408 and 429. Any other 4xx means the target
        understood and refused; repeating the same bytes cannot change its answer."""
        return not self.delivered and self.error_class != HTTP_4XX

    @property
    def target_unhealthy(self) -> bool:
        """Counts toward opening the circuit: the target is down or broken, not merely busy
        (429) or refusing this one message (4xx)."""
        return self.error_class in {TIMEOUT, CONNECTION, HTTP_5XX, HTTP_408, PROTOCOL}


def error_class_of(status_code: int) -> str:
    if status_code == 408:
        return HTTP_408
    if status_code == 429:
        return HTTP_429
    if 400 <= status_code < 500:
        return HTTP_4XX
    if status_code >= 500:
        return HTTP_5XX
    return PROTOCOL  # 1xx/3xx: we do not follow redirects to unknown places


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from `Retry-After` (delta-seconds or an HTTP date), capped; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), MAX_RETRY_AFTER_SECONDS))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min((when - now).total_seconds(), MAX_RETRY_AFTER_SECONDS))


def backoff_delay(
    *,
    attempt: int,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds before retry number `attempt` (1 = the first retry).

    Exponential with "equal jitter": half of `base * 2**(attempt-1)` (capped at `cap`) plus a
    random share of the other half, so many deliveries failing together do not retry together,
    yet each waits at least half its step. A `Retry-After` from the target is a floor.
    """
    step = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = step / 2 + (rng or random).uniform(0, step / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def gives_up(
    *,
    attempts: int,
    max_attempts: int,
    round_started_at: datetime,
    now: datetime,
    max_age: timedelta,
    next_delay: float,
) -> str | None:
    """Why a failing delivery stops here (None: retry). `attempts` counts the one just made."""
    if attempts >= max_attempts:
        return f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
    if now + timedelta(seconds=next_delay) - round_started_at > max_age:
        return f"still failing after {max_age} (max age)"
    return None
