"""Posting steps through the public HTTP API, the way real source systems do.

Several CloudEvents of one system due together travel as one batch; a single one goes in
structured mode (sometimes binary mode, with `ce-*` headers); EPCIS documents go to the capture
endpoint as JSON-LD; broken bytes go as-is in structured mode. Answers are counted, never raised:
only a transient failure (no connection, 429, 502-504) raises `RetryLater`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .model import Step

EVENTS_PATH = "/api/v1/events"
EPCIS_PATH = "/api/v1/epcis/capture"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON_LD = "application/ld+json"
MAX_BATCH = 200  # well under INTAKE_MAX_BATCH_EVENTS, so a tick's batch is never refused as too big
_TRANSIENT = {429, 502, 503, 504}


class RetryLater(Exception):
    """The request did not get a definite answer; send it again later (ids make that safe)."""


@dataclass
class Tally:
    """What the tower answered: per event (accepted / duplicate / rejected) and per request."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    requests: int = 0
    http_errors: int = 0  # answered, but not with a per-event outcome (401, 413, 415, 500, …)
    problems: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.accepted += other.accepted
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.requests += other.requests
        self.http_errors += other.http_errors
        self.problems += other.problems


@dataclass
class Request:
    """One HTTP request carrying `steps` (all of one system)."""

    steps: list[Step]
    mode: str  # batch | structured | binary | raw | epcis
    path: str
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return self.steps[0].system


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _binary(step: Step) -> Request:
    event = dict(step.payload)  # type: ignore[arg-type]
    data = event.pop("data")
    event.pop("datacontenttype", None)  # binary mode carries it as Content-Type
    # Header values are ASCII; the spec percent-encodes anything else.
    headers = {f"ce-{name}": quote(str(value), safe=" !#$&'()*+,/:;=?@[]~") for name, value in event.items()}
    return Request([step], "binary", EVENTS_PATH, "application/json", _json(data), headers)


def plan_requests(
    steps: list[Step], *, batch: bool, rng: random.Random, binary_share: float = 0.1
) -> Iterator[Request]:
    """The requests for `steps` due in one tick, in due order of each system's first step."""
    by_system: dict[str, list[Step]] = {}
    for step in steps:
        if step.kind == "epcis":
            yield Request([step], "epcis", EPCIS_PATH, JSON_LD, _json(step.payload))
        elif step.kind == "raw":
            yield Request([step], "raw", EVENTS_PATH, STRUCTURED, bytes(step.payload))  # type: ignore[arg-type]
        else:
            by_system.setdefault(step.system, []).append(step)
    for group in by_system.values():
        if batch and len(group) > 1:
            for start in range(0, len(group), MAX_BATCH):
                chunk = group[start : start + MAX_BATCH]
                yield Request(chunk, "batch", EVENTS_PATH, BATCH, _json([s.payload for s in chunk]))
            continue
        for step in group:
            if rng.random() < binary_share:
                yield _binary(step)
            else:
                yield Request([step], "structured", EVENTS_PATH, STRUCTURED, _json(step.payload))


def post(client: httpx.Client, request: Request, token: str) -> Tally:
    """Send `request`; the tower's answer as a tally. Raises `RetryLater` on transient failure."""
    headers = {**request.headers, "Content-Type": request.content_type, "Authorization": f"Bearer {token}"}
    try:
        response = client.post(request.path, content=request.body, headers=headers)
    except httpx.TransportError as exc:  # refused, reset, timed out: the server may be restarting
        raise RetryLater(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code in _TRANSIENT:
        raise RetryLater(f"HTTP {response.status_code}")
    return read_answer(request, response.status_code, _body(response))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def read_answer(request: Request, status: int, body: Any) -> Tally:
    """Count the tower's answer to `request` (pure: status code and parsed JSON body)."""
    tally = Tally(requests=1)
    events = len(request.steps)
    if status in (200, 202) and isinstance(body, dict) and "accepted" in body:  # batch, EPCIS capture job
        tally.accepted += int(body.get("accepted", 0))
        tally.duplicate += int(body.get("duplicate", 0))
        tally.rejected += int(body.get("rejected", 0))
    elif status == 202 and isinstance(body, dict):  # one event: accepted or duplicate
        if body.get("status") == "duplicate":
            tally.duplicate += 1
        else:
            tally.accepted += 1
    elif status in (400, 403):  # the message (or the whole document / batch) was refused and kept
        tally.rejected += events
    else:
        tally.http_errors += 1
        detail = body.get("detail", "") if isinstance(body, dict) else ""
        tally.problems.append(f"{request.mode} from {request.system}: HTTP {status} {detail}".strip())
    return tally
