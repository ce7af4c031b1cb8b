"""Writing the sandbox: receivers' settings, the demo receivers, and receipts (deduped by key)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from integrations.sandbox.models import SandboxReceipt, SandboxReceiver
from integrations.services.rejections import REDACTED_HEADERS
from integrations.signing import SIGNATURE_HEADER

SETTABLE_FIELDS = (
    "name",
    "description",
    "error_rate",
    "error_status",
    "retry_after_seconds",
    "latency_ms",
    "outage",
    "auth_kind",
    "secret",
)
# A signature is bound to its body and time, but within its tolerance it could be replayed.
_REDACTED = REDACTED_HEADERS | {SIGNATURE_HEADER.lower()}
_JSON_MEDIA_TYPES = ("application/json", "application/cloudevents+json")

# Modest faults so a new user of `make run` sees every path a delivery can take: the ERP is
# sometimes briefly unavailable (503 + Retry-After: retried), the portal sometimes refuses a
# message (422: not retried, so a dead letter to replay), the TMS rate-limits (429 + Retry-After).
DEMO_RECEIVERS: tuple[dict[str, Any], ...] = (
    {
        "code": "erp",
        "name": "Simulated ERP",
        "description": "Sandbox stand-in for the cloud ERP: posts purchase orders and goods receipts.",
        "error_rate": 0.05,
        "error_status": 503,
        "retry_after_seconds": 2,
        "latency_ms": 50,
    },
    {
        "code": "portal",
        "name": "Simulated supplier portal",
        "description": "Sandbox stand-in for the supplier portal; now and then refuses a message (422).",
        "error_rate": 0.05,
        "error_status": 422,
        "latency_ms": 80,
    },
    {
        "code": "tms",
        "name": "Simulated TMS",
        "description": "Sandbox stand-in for the transport management SaaS; rate-limits now and then (429).",
        "error_rate": 0.05,
        "error_status": 429,
        "retry_after_seconds": 1,
        "latency_ms": 50,
    },
)


def _unknown_settings(settings: Mapping[str, Any]) -> None:
    unknown = sorted(set(settings) - set(SETTABLE_FIELDS))
    if unknown:
        raise ValidationError({name: "Not a setting of a sandbox receiver." for name in unknown})


def sandbox_receiver_configure(*, receiver: SandboxReceiver, **settings: Any) -> SandboxReceiver:
    """Change some of a receiver's settings (any of `SETTABLE_FIELDS`).

    All or nothing: every field is validated first (ValidationError naming each bad field; the
    object and its row are then left as they were). Only the given fields are written, so two
    people changing different settings at once do not undo each other. Takes effect on the
    next request the receiver answers.
    """
    _unknown_settings(settings)
    for name, value in settings.items():
        setattr(receiver, name, value)
    receiver.updated_at = timezone.now()
    try:
        receiver.full_clean()
    except ValidationError:
        receiver.refresh_from_db(fields=[*settings, "updated_at"])
        raise
    receiver.save(update_fields=[*settings, "updated_at"])
    return receiver


def sandbox_receiver_upsert(*, code: str, **settings: Any) -> SandboxReceiver:
    """The receiver at `/sandbox/<code>/`, created if missing, with `settings` applied (validated
    as in `sandbox_receiver_configure`). For tests and scripted demos."""
    _unknown_settings(settings)
    receiver = SandboxReceiver.objects.filter(code=code).first()
    if receiver is not None:
        return sandbox_receiver_configure(receiver=receiver, **settings)
    receiver = SandboxReceiver(code=code, **{"name": code, **settings})
    receiver.full_clean()
    receiver.save()
    return receiver


def sandbox_receivers_ensure_demo() -> list[SandboxReceiver]:
    """The demo receivers "erp", "portal" and "tms", created if missing (in that order).

    Idempotent and safe to run concurrently: an existing receiver keeps the settings someone
    gave it; only missing ones get `DEMO_RECEIVERS`' defaults."""
    receivers = []
    for spec in DEMO_RECEIVERS:
        defaults = {name: value for name, value in spec.items() if name != "code"}
        receiver, _ = SandboxReceiver.objects.get_or_create(code=spec["code"], defaults=defaults)
        receivers.append(receiver)
    return receivers


def sandbox_receipts_clear(*, receiver: SandboxReceiver) -> int:
    """Forget everything `receiver` received; returns how many receipts went. Receipt ids are
    never reused, so receipts recorded afterwards still list after any seen before."""
    deleted, _ = SandboxReceipt.objects.filter(receiver=receiver).delete()
    return deleted


@dataclass(frozen=True)
class Recorded:
    receipt: SandboxReceipt
    duplicate: bool

    def answer(self) -> dict:
        return self.receipt.answer(duplicate=self.duplicate)


def _event_identity(body: bytes, content_type: str, headers: Mapping[str, str]) -> tuple[str, str]:
    """CloudEvent `type` and `id`: from a structured-mode JSON body, else the ce-* headers."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _JSON_MEDIA_TYPES or media_type.endswith("+json"):
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("type"), str):
            event_id = document.get("id")
            return document["type"], event_id if isinstance(event_id, str) else ""
    lowered = {name.lower(): value for name, value in headers.items()}
    return lowered.get("ce-type", ""), lowered.get("ce-id", "")


def sandbox_receipt_record(
    *,
    receiver: SandboxReceiver,
    idempotency_key: str,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str],
) -> Recorded:
    """Record one request `receiver` accepted: its effect happens once per `idempotency_key`.

    The first request for a key creates the receipt (keeping its body and redacted headers);
    every repeat only increments `times_received` and moves `last_received_at`. Race-safe: the
    unique (receiver, key) constraint decides which of concurrent first requests creates the
    row, the others count up with one atomic UPDATE, so N concurrent posts of one key leave one
    receipt with `times_received == N`.
    """
    event_type, event_id = _event_identity(body, content_type, headers)
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the conflict must not spoil the outer transaction
                receipt = SandboxReceipt.objects.create(
                    receiver=receiver,
                    idempotency_key=idempotency_key,
                    # PostgreSQL text cannot hold NUL; the rest of the body stays as sent.
                    body=body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
                    content_type=content_type[:200],
                    headers={
                        name: ("[redacted]" if name.lower() in _REDACTED else value)
                        for name, value in headers.items()
                    },
                    event_type=event_type[:100],
                    event_id=event_id[:255],
                    first_received_at=now,
                    last_received_at=now,
                )
            return Recorded(receipt=receipt, duplicate=False)
        except IntegrityError:
            repeats = SandboxReceipt.objects.filter(receiver=receiver, idempotency_key=idempotency_key)
            if not repeats.update(times_received=F("times_received") + 1, last_received_at=now):
                raise  # not a repeat of the key: some other constraint failed
            return Recorded(receipt=repeats.select_related("receiver").get(), duplicate=True)
