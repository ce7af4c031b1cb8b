"""The CloudEvents conformance cases (../shared/standards) parse as their folders say.

These read third-party files that only a developer checkout has; a user's clone skips them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations.adapters.cloudevents import parse_batch, parse_structured

STANDARDS = (
    Path(__file__).resolve().parents[3] / "shared" / "standards" / "cloudevents" / "conformance-format-json"
)


def cases(name: str) -> list[dict]:
    path = STANDARDS / f"{name}.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["tests"]


def ids(name: str) -> list[str]:
    return [case["id"] for case in cases(name)]


pytestmark = pytest.mark.skipif(not STANDARDS.exists(), reason="../shared/standards is not beside this clone")


@pytest.mark.parametrize("case", cases("valid-events"), ids=ids("valid-events"))
def test_valid_event_parses(case):
    parsed = parse_structured(case["event"])
    assert parsed.errors == [] and parsed.event is not None
    assert parsed.event.id == case["event"]["id"]


@pytest.mark.parametrize("case", cases("invalid-events"), ids=ids("invalid-events"))
def test_invalid_event_is_refused(case):
    parsed = parse_structured(case["event"])
    assert parsed.event is None and parsed.errors


@pytest.mark.parametrize("case", cases("valid-batches"), ids=ids("valid-batches"))
def test_valid_batch_parses(case):
    items, errors = parse_batch(case["batch"])
    assert errors == [] and all(item.errors == [] for item in items)
    assert len(items) == len(case["batch"])


@pytest.mark.parametrize("case", cases("invalid-batches"), ids=ids("invalid-batches"))
def test_invalid_batch_has_a_refused_event(case):
    items, errors = parse_batch(case["batch"])
    assert errors or any(item.errors for item in items)


def test_nanosecond_time_keeps_microseconds():
    event = parse_structured(
        {
            "specversion": "1.0",
            "id": "x",
            "source": "s",
            "type": "t",
            "time": "2026-01-02T03:04:05.123456789+02:00",
        }
    ).event
    assert event.time.isoformat() == "2026-01-02T03:04:05.123456+02:00"
