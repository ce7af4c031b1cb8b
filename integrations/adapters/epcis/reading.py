"""Read one EPCIS 2.0 event: check what the mapping relies on and normalise it.

This is not full EPCIS schema validation (see :mod:`.schema` for that); it checks the fields
the control tower interprets, plus the semantic rules the GS1 JSON schema cannot express
(CBV terms, namespaced ``ilmd`` fields), and reports each problem at its JSON pointer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from integrations.contracts import FieldError
from integrations.contracts.validation import json_pointer

from . import gs1
from .checks import objects, structural_errors
from .vocabulary import (
    BIZ_STEPS,
    BIZ_TRANSACTION_TYPES,
    DISPOSITIONS,
    SOURCE_DEST_TYPES,
    Vocabulary,
    cbv_term,
)

__all__ = [
    "EVENT_TYPES",
    "BizTransaction",
    "EpcisEvent",
    "Party",
    "derived_event_id",
    "read_event",
    "utc_time",
]

EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
ACTIONS = ("ADD", "OBSERVE", "DELETE")
DERIVED_ID_PREFIX = "epcis-sha256:"

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)
_OFFSET = re.compile(r"^[+-]((0\d|1[0-3]):[0-5]\d|14:00)$")
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


@dataclass(frozen=True)
class BizTransaction:
    """One ``bizTransactionList`` entry: CBV type (bare) or URI, the value as sent, its number."""

    type: str | None
    value: str
    number: str


@dataclass(frozen=True)
class Party:
    """One ``sourceList`` / ``destinationList`` entry with its type normalised."""

    type: str
    value: str


@dataclass(frozen=True)
class EpcisEvent:
    """An EPCIS event that passed :func:`read_event`; ``raw`` is the event as sent (read-only)."""

    pointer: str
    raw: dict
    epcis_type: str
    id: str
    time: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    transactions: tuple[BizTransaction, ...]
    sources: tuple[Party, ...]
    destinations: tuple[Party, ...]

    def at(self, *path: Any) -> str:
        """The JSON pointer of ``path`` inside this event."""
        return json_pointer(path, prefix=self.pointer)

    def location(self, key: str) -> str | None:
        """The ``id`` of ``readPoint`` / ``bizLocation``, when given."""
        value = self.raw.get(key)
        return value.get("id") if isinstance(value, dict) and isinstance(value.get("id"), str) else None


def derived_event_id(raw: Any) -> str:
    """``epcis-sha256:<hex>`` of the event's canonical JSON (sorted keys, no whitespace).

    The same event always gets the same id, so re-posting a document is idempotent.
    """
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return DERIVED_ID_PREFIX + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def utc_time(value: object) -> str | None:
    """An RFC 3339 date-time with offset as UTC ``YYYY-MM-DDTHH:MM:SS[.fff]Z``; None if invalid."""
    match = _DATE_TIME.match(value) if isinstance(value, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        if offset.upper() == "Z":
            zone = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):  # impossible dates, offsets >= 24h, year 1 minus an offset
        return None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0").ljust(3, "0")
    return text + "Z"


def _read_type(raw: dict, pointer: str) -> tuple[str | None, list[FieldError]]:
    value = raw.get("type")
    if value in EVENT_TYPES:
        return value, []
    if isinstance(value, str) and _ABSOLUTE_URI.match(value):  # an EPCIS extension event type
        return value, []
    if value is None:
        return None, [FieldError(f"{pointer}/type", "is required")]
    return None, [
        FieldError(
            f"{pointer}/type",
            f"{value!r} is not an EPCIS event type (expected one of: {', '.join(EVENT_TYPES)})",
        )
    ]


def _read_time(raw: dict, pointer: str) -> tuple[str | None, list[FieldError]]:
    errors: list[FieldError] = []
    offset = raw.get("eventTimeZoneOffset")
    if offset is not None and not (isinstance(offset, str) and _OFFSET.match(offset)):
        errors.append(FieldError(f"{pointer}/eventTimeZoneOffset", "must be an offset like +01:00 or -06:00"))
    if "eventTime" not in raw:
        return None, [FieldError(f"{pointer}/eventTime", "is required"), *errors]
    time = utc_time(raw["eventTime"])
    if time is None:
        detail = (
            f"must be an RFC 3339 date-time with offset, e.g. 2025-03-04T08:15:00Z (got {raw['eventTime']!r})"
        )
        errors.insert(0, FieldError(f"{pointer}/eventTime", detail))
    return time, errors


def _read_id(raw: dict, pointer: str) -> tuple[str, list[FieldError]]:
    if "eventID" not in raw:
        return derived_event_id(raw), []
    value = raw["eventID"]
    if isinstance(value, str) and value.strip():
        return value.strip(), []
    return "", [FieldError(f"{pointer}/eventID", "must be a URI (e.g. urn:uuid:... or ni:///sha-256;...)")]


def _read_action(raw: dict, pointer: str, epcis_type: str | None) -> tuple[str | None, list[FieldError]]:
    needs_action = epcis_type in EVENT_TYPES and epcis_type != "TransformationEvent"
    value = raw.get("action")
    if value is None:
        return None, [FieldError(f"{pointer}/action", "is required")] if needs_action else []
    if value in ACTIONS:
        return value, []
    return None, [
        FieldError(
            f"{pointer}/action", f"{value!r} is not an EPCIS action (expected one of: ADD, OBSERVE, DELETE)"
        )
    ]


def _read_term(raw: dict, key: str, vocab: Vocabulary, pointer: str) -> tuple[str | None, list[FieldError]]:
    if raw.get(key) is None:
        return None, []
    term, reason = cbv_term(raw[key], vocab)
    return (term.value, []) if term else (None, [FieldError(f"{pointer}/{key}", reason or "is invalid")])


def _uri_field(item: dict, key: str, where: str) -> tuple[str | None, list[FieldError]]:
    value = item.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip(), []
    return None, [FieldError(f"{where}/{key}", "is required" if value is None else "must be a URI")]


def _read_transactions(raw: dict, pointer: str) -> tuple[tuple[BizTransaction, ...], list[FieldError]]:
    items, errors = objects(raw, "bizTransactionList", pointer)
    found: list[BizTransaction] = []
    for index, item in items:
        where = f"{pointer}/bizTransactionList/{index}"
        value, problems = _uri_field(item, "bizTransaction", where)
        kind: str | None = None
        if item.get("type") is not None:
            term, reason = cbv_term(item["type"], BIZ_TRANSACTION_TYPES)
            kind = term.value if term else None
            problems += [] if term else [FieldError(f"{where}/type", reason or "is invalid")]
        errors += problems
        if value and not problems:
            found.append(BizTransaction(kind, value, gs1.business_number(value)))
    return tuple(found), errors


def _read_parties(
    raw: dict, key: str, field: str, pointer: str
) -> tuple[tuple[Party, ...], list[FieldError]]:
    items, errors = objects(raw, key, pointer)
    found: list[Party] = []
    for index, item in items:
        where = f"{pointer}/{key}/{index}"
        value, problems = _uri_field(item, field, where)
        term, reason = cbv_term(item.get("type"), SOURCE_DEST_TYPES)
        if term is None:
            problems.append(
                FieldError(f"{where}/type", "is required" if item.get("type") is None else str(reason))
            )
        errors += problems
        if value and term:
            found.append(Party(term.value, value))
    return tuple(found), errors


def read_event(raw: Any, pointer: str) -> tuple[EpcisEvent | None, list[FieldError]]:
    """Check and normalise one event found at ``pointer``.

    Guarantees: returns ``(event, [])`` or ``(None, errors)`` with every problem found, each at
    the pointer of the offending field; ``event.time`` is UTC with ``Z``; ``event.biz_step`` and
    ``event.disposition`` are bare CBV terms or user-vocabulary URIs. Never raises.
    """
    if not isinstance(raw, dict):
        return None, [FieldError(pointer, "must be an object (an EPCIS event)")]
    epcis_type, errors = _read_type(raw, pointer)
    time, problems = _read_time(raw, pointer)
    event_id, id_problems = _read_id(raw, pointer)
    action, action_problems = _read_action(raw, pointer, epcis_type)
    biz_step, step_problems = _read_term(raw, "bizStep", BIZ_STEPS, pointer)
    disposition, disp_problems = _read_term(raw, "disposition", DISPOSITIONS, pointer)
    transactions, tx_problems = _read_transactions(raw, pointer)
    sources, source_problems = _read_parties(raw, "sourceList", "source", pointer)
    destinations, dest_problems = _read_parties(raw, "destinationList", "destination", pointer)
    errors += problems + id_problems + action_problems + step_problems + disp_problems
    errors += tx_problems + source_problems + dest_problems
    errors += structural_errors(raw, pointer, epcis_type)
    if errors or epcis_type is None or time is None:
        return None, errors
    event = EpcisEvent(
        pointer,
        raw,
        epcis_type,
        event_id,
        time,
        action,
        biz_step,
        disposition,
        transactions,
        sources,
        destinations,
    )
    return event, []
