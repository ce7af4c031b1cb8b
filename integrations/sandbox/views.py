"""`POST /sandbox/<code>/`: the endpoint of a sandbox target, behaving as its settings say.

Checks run in a fixed order, each answering an `application/problem+json` and recording
nothing: unknown code 404; outage 503 + Retry-After; wrong or missing credentials 401; no
`Idempotency-Key` 400; body over 1 MB 413. A request that passes gets an injected error with
probability `error_rate` (answered after `latency_ms`); otherwise it is recorded at once (once
per key) and answered after `latency_ms`, 201 the first time or 200 with `"duplicate": true`.
Recording before the wait is what a real ERP does — it posts, then answers slowly — so a client
that gives up or dies before the answer has still had its effect, and must not double it.

The view is async so that a receiver's latency is a timer, not a thread held asleep: a slow
sandbox must not become the bottleneck of the deliveries it is meant to exercise.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import random

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from controltower.problems import problem_response
from integrations.sandbox.models import RETRY_AFTER_STATUSES, SandboxReceiver
from integrations.sandbox.selectors import sandbox_receiver_get
from integrations.sandbox.services import sandbox_receipt_record
from integrations.signing import SIGNATURE_HEADER, signature_verify

MAX_BODY_BYTES = 1024 * 1024
MAX_KEY_LENGTH = 255
INJECTED_ERROR = "sandbox-injected-error"
OUTAGE = "sandbox-outage"

_CHALLENGES = {
    SandboxReceiver.AuthKind.BEARER: 'Bearer realm="sandbox"',
    SandboxReceiver.AuthKind.BASIC: 'Basic realm="sandbox", charset="UTF-8"',
    SandboxReceiver.AuthKind.HMAC: f'HMAC-SHA256 realm="sandbox", header="{SIGNATURE_HEADER}"',
}


def error_injected(*, error_rate: float) -> bool:
    """Whether this request gets an injected error: true with probability `error_rate`.

    `random.random()` lies in [0, 1), so a rate of 0 never injects and a rate of 1 always does."""
    return random.random() < error_rate


def credentials_valid(*, receiver: SandboxReceiver, request: HttpRequest, body: bytes) -> bool:
    """Whether the request carries the credentials `receiver` expects (constant-time compare)."""
    kind = receiver.auth_kind
    if kind == SandboxReceiver.AuthKind.NONE:
        return True
    if kind == SandboxReceiver.AuthKind.HMAC:
        return signature_verify(
            secret=receiver.secret, body=body, header=request.headers.get(SIGNATURE_HEADER, "")
        )
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if kind == SandboxReceiver.AuthKind.BEARER:
        given = value.strip() if scheme.lower() == "bearer" else ""
    else:
        try:
            given = (
                base64.b64decode(value.strip(), validate=True).decode() if scheme.lower() == "basic" else ""
            )
        except ValueError:  # not base64, or not UTF-8
            given = ""
    return bool(given) and hmac.compare_digest(given.encode(), receiver.secret.encode())


def _problem(request: HttpRequest, *, code: str, slug: str, status: int, **fields) -> HttpResponse:
    return problem_response(slug=slug, status=status, instance=request.path, receiver=code, **fields)


def _too_large(request: HttpRequest, *, code: str) -> HttpResponse:
    detail = f"A sandbox receiver takes bodies up to {MAX_BODY_BYTES} bytes; nothing was recorded."
    return _problem(request, code=code, slug="payload-too-large", status=413, detail=detail)


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is beyond what Django will read (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    try:
        return request.body
    except RequestDataTooBig:
        return None


def _refusal(request: HttpRequest, *, receiver: SandboxReceiver) -> HttpResponse | None:
    """The answer to a request the receiver refuses before any latency or injected error:
    outage, credentials, Idempotency-Key, size (in that order); None when it passes."""
    code = receiver.code
    if receiver.outage:
        return _problem(
            request,
            code=code,
            slug=OUTAGE,
            status=503,
            title="Sandbox receiver in a simulated outage",
            detail=f"Sandbox receiver {code!r} is switched to outage; nothing was recorded.",
            headers={"Retry-After": str(receiver.outage_retry_after)},
        )
    body = _read_body(request)
    if body is None:  # beyond what Django reads at all: not even a signature could be checked
        return _too_large(request, code=code)
    if not credentials_valid(receiver=receiver, request=request, body=body):
        return _problem(
            request,
            code=code,
            slug="not-authenticated",
            status=401,
            detail=f"Sandbox receiver {code!r} expects {receiver.get_auth_kind_display()} credentials.",
            headers={"WWW-Authenticate": _CHALLENGES[receiver.auth_kind]},
        )
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        detail = (
            "missing Idempotency-Key" if not key else f"Idempotency-Key is over {MAX_KEY_LENGTH} characters"
        )
        return _problem(
            request,
            code=code,
            slug="validation-error",
            status=400,
            detail=f"{detail}: like a real ERP API, a sandbox receiver needs one per request.",
            errors=[{"pointer": "", "header": "Idempotency-Key", "detail": detail}],
        )
    if len(body) > MAX_BODY_BYTES:
        return _too_large(request, code=code)
    return None


def _injected_error(request: HttpRequest, *, receiver: SandboxReceiver) -> HttpResponse:
    status = receiver.error_status
    headers = {}
    if status in RETRY_AFTER_STATUSES and receiver.retry_after_seconds is not None:
        headers["Retry-After"] = str(receiver.retry_after_seconds)
    return _problem(
        request,
        code=receiver.code,
        slug=INJECTED_ERROR,
        status=status,
        title="Injected sandbox error",
        detail=(
            f"Sandbox receiver {receiver.code!r} answers {status} to a share {receiver.error_rate:g} "
            "of requests; nothing was recorded."
        ),
        headers=headers,
    )


@csrf_exempt
async def receive(request: HttpRequest, code: str) -> HttpResponse:
    """Answer as receiver `code` is set to behave (see the module docstring for the order)."""
    if request.method != "POST":
        return _problem(
            request,
            code=code,
            slug="method-not-allowed",
            status=405,
            detail="A sandbox receiver only takes POST; read what it received at /api/v1/sandbox/receivers.",
            headers={"Allow": "POST"},
        )
    receiver = await sync_to_async(sandbox_receiver_get)(code=code)
    if receiver is None:
        return _problem(
            request, code=code, slug="not-found", status=404, detail=f"No sandbox receiver {code!r}."
        )
    refusal = _refusal(request, receiver=receiver)
    if refusal is not None:
        return refusal
    if error_injected(error_rate=receiver.error_rate):
        await _wait(receiver)
        return _injected_error(request, receiver=receiver)
    recorded = await sync_to_async(sandbox_receipt_record)(
        receiver=receiver,
        idempotency_key=request.headers["Idempotency-Key"].strip(),
        body=request.body,
        content_type=request.META.get("CONTENT_TYPE", ""),
        headers=dict(request.headers.items()),
    )
    await _wait(receiver)
    return JsonResponse(recorded.answer(), status=200 if recorded.duplicate else 201)


async def _wait(receiver: SandboxReceiver) -> None:
    if receiver.latency_ms:
        await asyncio.sleep(receiver.latency_ms / 1000)
