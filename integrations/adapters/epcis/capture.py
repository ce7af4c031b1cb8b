"""Map an EPCIS 2.0 capture document (or a single event) to canonical events."""

from __future__ import annotations

import re
from typing import Any

from integrations.contracts import FieldError

from .documents import EVENT_LISTS
from .mapping import map_event
from .model import CaptureResult
from .reading import EVENT_TYPES, read_event
from .references import Defaults

__all__ = ["epcis_capture_map"]

_SCHEMA_VERSION = re.compile(r"^2\.0(\.\d+)*$")


def _document_events(document: Any) -> tuple[list[tuple[str, Any]], list[FieldError]]:
    """``(pointer, event)`` pairs of the document, or the document-level errors."""
    if not isinstance(document, dict):
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(
            type(document), "a number"
        )
        return [], [
            FieldError("", f"must be a JSON object (an EPCISDocument or a single EPCIS event), not {kind}")
        ]
    kind = document.get("type")
    if kind in EVENT_TYPES:  # a single event posted on its own
        return [("", document)], []
    if not isinstance(kind, str) or kind not in EVENT_LISTS:
        return [], [_type_error(kind)]
    errors = _version_errors(document)
    keys = EVENT_LISTS[kind].strip("/").split("/")
    node = document
    for depth, key in enumerate(keys[:-1]):  # down to the object that holds the eventList
        child = node.get(key)
        if not isinstance(child, dict):
            detail = "is required" if child is None else f"must be an object with {_a(keys[depth + 1])}"
            return [], [*errors, FieldError("/" + "/".join(keys[: depth + 1]), detail)]
        node = child
    where = "/" + "/".join(keys)
    events = node.get(keys[-1])
    if events is None:
        return [], [*errors, FieldError(where, "is required")]
    if not isinstance(events, list):
        return [], [*errors, FieldError(where, "must be an array of EPCIS events")]
    if not events:
        return [], [*errors, FieldError(where, "contains no events")]
    return ([] if errors else [(f"{where}/{i}", e) for i, e in enumerate(events)]), errors


def _a(key: str) -> str:
    return f"{'an' if key[0] in 'aeiou' else 'a'} {key}"


def _type_error(kind: Any) -> FieldError:
    """Why a document's ``type`` is neither EPCISDocument nor an event type."""
    if kind is None:
        return FieldError("/type", "is required (EPCISDocument or an EPCIS event type)")
    return FieldError(
        "/type",
        f"{kind!r} is neither {' nor '.join(EVENT_LISTS)} nor an EPCIS event type ({', '.join(EVENT_TYPES)})",
    )


def _version_errors(document: dict) -> list[FieldError]:
    """EPCIS 1.x documents differ in structure and vocabulary, so only 2.0 is accepted."""
    if "schemaVersion" not in document:
        return []
    version = document["schemaVersion"]
    if isinstance(version, str) and _SCHEMA_VERSION.match(version.strip()):
        return []
    return [FieldError("/schemaVersion", f"must be '2.0' (EPCIS 2.0 JSON/JSON-LD), not {version!r}")]


def epcis_capture_map(
    document: Any, *, plant: str | None = None, supplier: str | None = None
) -> CaptureResult:
    """Map an EPCIS 2.0 capture document (an EPCISDocument, or an EPCISQueryDocument whose
    results carry the events), or a single EPCIS event, to canonical events.

    ``plant`` / ``supplier`` are the calling system's ERP codes; they are used for the events'
    plant / supplier, and when absent the GLN of the event's destination / source stands in.

    Guarantees:

    * never raises for any JSON value; every problem is a ``FieldError`` whose pointer is
      relative to the posted document (e.g. ``/epcisBody/eventList/1/bizStep``, or
      ``/epcisBody/queryResults/resultsBody/eventList/1/bizStep`` in a query document);
    * a document-level error (not an object, wrong ``type``, ``schemaVersion`` other than 2.0,
      missing or empty ``eventList``) means no events and no telemetry at all;
    * otherwise each event lands in exactly one place: ``events`` (a business contract),
      ``telemetry`` (valid EPCIS not mapped to a business contract) or ``errors`` (only that
      event is rejected; the caller decides whether to accept the rest);
    * every emitted event's ``data`` validates against its contract, and its id is the EPCIS
      ``eventID`` or a SHA-256 of the event's canonical JSON, so re-posting is idempotent;
    * output order follows the document's event order.
    """
    pairs, errors = _document_events(document)
    result = CaptureResult(errors=list(errors))
    defaults = Defaults(plant, supplier)
    for pointer, raw in pairs:
        event, problems = read_event(raw, pointer)
        if event is None:
            result.errors.extend(problems)
            continue
        outcome = map_event(event, defaults)
        result.errors.extend(outcome.errors)
        if outcome.event is not None:
            result.events.append(outcome.event)
        if outcome.telemetry is not None:
            result.telemetry.append(outcome.telemetry)
    return result
