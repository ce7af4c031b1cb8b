"""Keeping refused messages: nothing a source system sends is lost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from controltower.changes import Kind, announce
from controltower.json_values import (
    error_dicts,
    json_decode,
    printable,
    printable_json,
    text_problem,
)
from integrations.contracts import FieldError, contract_get, extract_identifiers
from integrations.models import RejectedIdentifier, RejectedMessage, SourceSystem
from integrations.signals import message_rejected

REDACTED_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}
MAX_KEPT_BODY_BYTES = 1024 * 1024  # over the intake limit we keep the first megabyte


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: ("[redacted]" if name.lower() in REDACTED_HEADERS else value) for name, value in headers.items()
    }


def rejected_message_record(
    *,
    system: SourceSystem | None,
    endpoint: str,
    content_type: str,
    headers: Mapping[str, str],
    body: bytes,
    status_code: int,
    problem_type: str,
    errors: Iterable[FieldError],
    batch_index: int | None = None,
    source: str = "",
    event_id: str = "",
    type: str = "",
    plant_id: int | None = None,
    supplier_id: int | None = None,
) -> RejectedMessage:
    """Store one refused message and announce it (after commit) with `message_rejected`, and to
    live pages as `MESSAGE_REJECTED` (and `SYSTEM_CHANGED` for its sender).

    Whatever arrived is kept: the body as bytes, exactly; headers, errors and the event's
    source/id/type as text with NUL and lone surrogates escaped (PostgreSQL holds neither)."""
    truncated = len(body) > MAX_KEPT_BODY_BYTES
    rejected = RejectedMessage.objects.create(
        system=system,
        endpoint=endpoint[:200],
        content_type=content_type[:200],
        headers=printable_json(redact_headers(headers)),
        body=body[:MAX_KEPT_BODY_BYTES],
        body_truncated=truncated,
        batch_index=batch_index,
        status_code=status_code,
        problem_type=problem_type,
        errors=error_dicts(errors),
        source=printable(str(source))[:255],
        event_id=printable(str(event_id))[:255],
        type=printable(str(type))[:100],
        plant_id=plant_id or (system.plant_id if system else None),
        supplier_id=supplier_id or (system.supplier_id if system else None),
    )
    found = [] if truncated else identifiers_in_body(body=body, type=type)
    RejectedIdentifier.objects.bulk_create(
        [
            RejectedIdentifier(rejected=rejected, kind=kind, value=value[:255])
            for kind, value in found
            if text_problem(value) is None  # PostgreSQL cannot hold it; the body still shows it
        ],
        ignore_conflicts=True,
    )
    transaction.on_commit(lambda: message_rejected.send(sender=RejectedMessage, rejected=rejected))
    announce(
        Kind.MESSAGE_REJECTED, rejected.pk, plant_ids=rejected.plant_id, supplier_ids=rejected.supplier_id
    )
    if system is not None:  # its error count changed
        announce(Kind.SYSTEM_CHANGED, system.pk, plant_ids=system.plant_id, supplier_ids=system.supplier_id)
    return rejected


def identifiers_in_body(*, body: bytes, type: str) -> list[tuple[str, str]]:
    """The business identifiers a refused body names, read as its contract declares them.

    Best effort and never raises: the body failed validation, so any part may be missing or
    malformed. A structured CloudEvent's `data` is read (with its own `type` when the caller
    had none); any other JSON object is read as binary-mode data. Unknown types name nothing.
    """
    try:
        document: Any = json_decode(body)
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(document, dict):
        return []
    data = document
    if "specversion" in document and "data" in document:
        data = document["data"]
        type = type or str(document.get("type") or "")
    contract = contract_get(type) if isinstance(type, str) and type else None
    if contract is None:
        return []
    try:
        return extract_identifiers(contract, data)
    except (ValueError, TypeError):
        return []
