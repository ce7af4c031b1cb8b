"""Keeping refused messages: nothing a source system sends is lost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import transaction

from integrations.contracts import FieldError
from integrations.models import RejectedMessage, SourceSystem
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
    """Store one refused message and announce it (after commit) with `message_rejected`."""
    truncated = len(body) > MAX_KEPT_BODY_BYTES
    rejected = RejectedMessage.objects.create(
        system=system,
        endpoint=endpoint[:200],
        content_type=content_type[:200],
        headers=redact_headers(headers),
        body=body[:MAX_KEPT_BODY_BYTES],
        body_truncated=truncated,
        batch_index=batch_index,
        status_code=status_code,
        problem_type=problem_type,
        errors=[{"pointer": e.pointer, "detail": e.detail} for e in errors],
        source=str(source)[:255],
        event_id=str(event_id)[:255],
        type=str(type)[:100],
        plant_id=plant_id or (system.plant_id if system else None),
        supplier_id=supplier_id or (system.supplier_id if system else None),
    )
    transaction.on_commit(lambda: message_rejected.send(sender=RejectedMessage, rejected=rejected))
    return rejected
