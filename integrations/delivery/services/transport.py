"""HTTP to a target: one POST per attempt, with the idempotency key, auth and a timeout.

One `httpx.Client` per worker process keeps connections to each target alive between
deliveries (a fresh TLS handshake per event would dominate the cost of a small POST).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from django.utils import timezone

from integrations.delivery.models import Delivery, Subscription, Target
from integrations.delivery.services.policy import (
    CONNECTION,
    PROTOCOL,
    TIMEOUT,
    Outcome,
    error_class_of,
    parse_retry_after,
)
from integrations.signing import SIGNATURE_HEADER, signature_header

EXCERPT_CHARS = 1000
USER_AGENT = "controltower-delivery/1"

_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        )
    return _client


def request_body(delivery: Delivery) -> tuple[bytes, str]:
    """The bytes and content type the target receives, by the subscription's mapping."""
    event = delivery.event
    if delivery.mapping == Subscription.Mapping.DATA:
        return json.dumps(event.data, ensure_ascii=False).encode(), "application/json"
    return json.dumps(event.as_cloudevent(), ensure_ascii=False).encode(), "application/cloudevents+json"


def request_headers(target: Target, *, delivery: Delivery, body: bytes, content_type: str) -> dict[str, str]:
    headers = {
        "Content-Type": content_type,
        "Idempotency-Key": delivery.idempotency_key,
        "Controltower-Delivery": str(delivery.pk),
    }
    if target.auth == Target.Auth.BEARER:
        headers["Authorization"] = f"Bearer {target.secret}"
    elif target.auth == Target.Auth.BASIC:
        headers["Authorization"] = "Basic " + base64.b64encode(target.secret.encode()).decode()
    elif target.auth == Target.Auth.HMAC:
        headers[SIGNATURE_HEADER] = signature_header(secret=target.secret, body=body)
    return headers


@dataclass(frozen=True)
class Request:
    """One POST, built and ready to send: sending it touches no database."""

    url: str
    body: bytes
    headers: dict[str, str]
    timeout: float


def delivery_request(*, delivery: Delivery, target: Target) -> Request:
    """The POST for one attempt of `delivery` (built where the ORM may be used)."""
    body, content_type = request_body(delivery)
    headers = request_headers(target, delivery=delivery, body=body, content_type=content_type)
    return Request(url=target.url, body=body, headers=headers, timeout=target.timeout_seconds)


def request_send(request: Request) -> Outcome:
    """Send one POST. Never raises for network or HTTP trouble: every failure becomes an
    `Outcome` with its error class. Safe from several threads at once (one shared client)."""
    started = time.perf_counter()
    try:
        response = http_client().post(
            request.url, content=request.body, headers=request.headers, timeout=request.timeout
        )
    except httpx.TimeoutException as error:
        return _failed(started, TIMEOUT, f"no answer within {request.timeout:g} s ({type(error).__name__})")
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
        return _failed(started, CONNECTION, f"{type(error).__name__}: {error}")
    except httpx.HTTPError as error:
        return _failed(started, PROTOCOL, f"{type(error).__name__}: {error}")
    latency = _ms(started)
    excerpt = response.text[:EXCERPT_CHARS] if response.content else ""
    if 200 <= response.status_code < 300:
        return Outcome(status_code=response.status_code, latency_ms=latency, excerpt=excerpt)
    return Outcome(
        status_code=response.status_code,
        latency_ms=latency,
        error_class=error_class_of(response.status_code),
        error=f"HTTP {response.status_code} {response.reason_phrase}",
        excerpt=excerpt,
        retry_after=parse_retry_after(response.headers.get("Retry-After"), now=timezone.now()),
    )


def delivery_post(*, delivery: Delivery, target: Target) -> Outcome:
    """POST the delivery to its target once (see `request_send`)."""
    return request_send(delivery_request(delivery=delivery, target=target))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _failed(started: float, error_class: str, error: Any) -> Outcome:
    return Outcome(status_code=None, latency_ms=_ms(started), error_class=error_class, error=str(error)[:500])
