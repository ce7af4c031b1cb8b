"""The CloudEvents conformance cases (../shared/standards) parse as their folders say, and the
intake endpoint answers them as the specification does (no 5xx; every invalid one refused).

These read third-party files that only a developer checkout has; a user's clone skips them.
`SHARED_STANDARDS` points elsewhere (e.g. from a worktree that is not beside the folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from integrations.adapters.cloudevents import parse_batch, parse_structured
from integrations.models import Event, RejectedMessage
from tests.factories import post_events

SHARED = Path(
    os.environ.get("SHARED_STANDARDS") or Path(__file__).resolve().parents[3] / "shared" / "standards"
)
STANDARDS = SHARED / "cloudevents" / "conformance-format-json"
# What our intake refuses on top of the specification: sources not of the sender, types without
# a contract, data that is not a contract's. Never an envelope attribute of a valid event.
OUR_POINTERS = ("/source", "/type", "/data", "/datacontenttype", "/dataschema", "/data_base64")


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


@pytest.mark.django_db
@pytest.mark.parametrize("case", cases("invalid-events"), ids=ids("invalid-events"))
def test_intake_refuses_each_invalid_event_and_keeps_it(client, network, case):
    response = post_events(client, network["erp"], case["event"])
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    kept = RejectedMessage.objects.get(pk=response.json()["rejected_message"])
    assert json.loads(kept.body_text) == case["event"]
    assert Event.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("case", cases("valid-events"), ids=ids("valid-events"))
def test_intake_finds_no_envelope_fault_in_a_valid_event(client, network, case):
    """Valid events (with the sender's own source) are refused, if at all, only for what our
    contracts add: never for their envelope, and never for a missing `time`."""
    event = {**case["event"], "source": "ERP-CLOUD"}
    response = post_events(client, network["erp"], event)
    assert response.status_code < 500
    if response.status_code != 202:
        pointers = [error["pointer"] for error in response.json()["errors"]]
        assert all(p.startswith(OUR_POINTERS) for p in pointers), pointers


@pytest.mark.django_db
@pytest.mark.parametrize("case", cases("invalid-batches"), ids=ids("invalid-batches"))
def test_intake_answers_each_invalid_batch_without_storing_its_bad_events(client, network, case):
    response = post_events(
        client, network["erp"], case["batch"], content_type="application/cloudevents-batch+json"
    )
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 200:
        assert response.json()["rejected"] >= 1
    assert RejectedMessage.objects.exists()
