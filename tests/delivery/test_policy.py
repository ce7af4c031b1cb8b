"""The retry policy: what is retried, how long to wait, when to give up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from integrations.delivery.services.policy import (
    Outcome,
    backoff_delay,
    error_class_of,
    gives_up,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
    ],
)
def test_only_408_429_and_5xx_are_retried_among_http_errors(status, retryable):
    outcome = Outcome(status_code=status, latency_ms=1, error_class=error_class_of(status))
    assert outcome.retryable is retryable and not outcome.delivered


def test_network_failures_are_retried_and_count_against_the_circuit_but_429_does_not():
    assert Outcome(status_code=None, latency_ms=1, error_class="timeout").target_unhealthy
    assert Outcome(status_code=None, latency_ms=1, error_class="connection").retryable
    busy = Outcome(status_code=429, latency_ms=1, error_class="http_429")
    assert busy.retryable and not busy.target_unhealthy


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(7)
    delays = [backoff_delay(attempt=n, base=2.0, cap=60.0, rng=rng) for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        step = min(60.0, 2.0 * 2 ** (n - 1))
        assert step / 2 <= delay <= step
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not a fixed ladder


def test_retry_after_is_a_floor_and_parses_both_forms():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert backoff_delay(attempt=1, base=1.0, cap=10.0, retry_after=30.0) == 30.0
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Sat, 28 Nov 2026 12:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("999999", now=now) == 3600.0  # capped


def test_gives_up_after_max_attempts_or_max_age():
    start = datetime(2026, 11, 28, tzinfo=UTC)
    age = timedelta(hours=1)
    assert (
        gives_up(attempts=2, max_attempts=3, round_started_at=start, now=start, max_age=age, next_delay=1)
        is None
    )
    assert "3 attempts" in gives_up(
        attempts=3, max_attempts=3, round_started_at=start, now=start, max_age=age, next_delay=1
    )
    late = start + timedelta(minutes=59)
    assert "max age" in gives_up(
        attempts=1, max_attempts=9, round_started_at=start, now=late, max_age=age, next_delay=120
    )
