"""CloudEvents 1.0: parsing structured, batch and binary mode into one `CloudEvent` shape.

Pure Python. This module checks the *envelope* against the CloudEvents 1.0 specification and its
JSON format (required attributes, RFC 3339 time, RFC 2046 content type, extension names); it
never raises on hostile input — every problem comes back as a `FieldError` with a JSON pointer.
What our own intake demands on top of the specification (JSON data, lengths our columns hold)
lives in `intake_errors`, so the conformance cases can be checked against the spec alone. `time`
is OPTIONAL in CloudEvents 1.0 and so here: intake takes the business time from the data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from controltower.json_values import json_decode
from integrations.contracts import FieldError

SPEC_VERSION = "1.0"
CONTEXT_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
)
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$"
)
# RFC 2046 media type: type "/" subtype, then optional parameters.
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*(\s*;.*)?$")
# CloudEvents 1.0 type system, String: control characters (U+0000–U+001F, U+007F–U+009F),
# surrogate code points not used in pairs and Unicode noncharacters MUST NOT be used.
_NOT_IN_STRINGS = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17))
    + "]"
)
# What our columns hold (Event.source/event_id/subject: 255, Event.type: 100 characters).
MAX_LENGTHS = {"id": 255, "source": 255, "subject": 255, "type": 100}


@dataclass(frozen=True)
class CloudEvent:
    specversion: str
    id: str
    source: str
    type: str
    time: datetime | None = None
    subject: str | None = None
    dataschema: str | None = None
    datacontenttype: str | None = None
    data: Any = None
    has_data: bool = False
    data_is_base64: bool = False
    extensions: dict[str, Any] = field(default_factory=dict)

    def as_structured(self) -> dict[str, Any]:
        """The event in structured JSON form (what we store and what replays send)."""
        body: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
        }
        for name in ("subject", "dataschema", "datacontenttype"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.time is not None:
            body["time"] = self.time.isoformat().replace("+00:00", "Z")
        body.update(self.extensions)
        if self.has_data:
            body["data_base64" if self.data_is_base64 else "data"] = self.data
        return body


@dataclass(frozen=True)
class Parsed:
    """One event's parse: the event when the envelope is valid, else the errors. `raw` is kept."""

    raw: Any
    event: CloudEvent | None
    errors: list[FieldError]


def parse_rfc3339(value: Any) -> datetime | None:
    """An aware datetime for a strict RFC 3339 timestamp (seconds required), else None."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value)
    if not match:
        return None
    if match.group(8) not in ("Z", "z") and (int(match.group(9)) > 23 or int(match.group(10)) > 59):
        return None
    fraction = (match.group(7) or "")[:7]  # Python keeps microseconds; nanoseconds are cut
    offset = "+00:00" if match.group(8) in ("Z", "z") else match.group(8)
    text = f"{match.group(1)}-{match.group(2)}-{match.group(3)}T{match.group(4)}:{match.group(5)}:{match.group(6)}"
    try:
        return datetime.fromisoformat(f"{text}{fraction}{offset}")
    except ValueError:
        return None


def _check_attribute(name: str, value: Any, prefix: str) -> FieldError | None:
    pointer = f"{prefix}/{name}"
    if name == "specversion":
        if value != SPEC_VERSION:
            return FieldError(pointer, f'must be "{SPEC_VERSION}" (got {json.dumps(value)})')
        return None
    if not isinstance(value, str):
        return FieldError(pointer, f"must be a string (got {type(value).__name__})")
    if value == "":
        return FieldError(pointer, "must not be empty")
    if problem := string_problem(value):
        return FieldError(pointer, problem)
    if name == "time" and parse_rfc3339(value) is None:
        return FieldError(
            pointer, "must be an RFC 3339 timestamp with seconds and offset, e.g. 2026-11-27T08:15:00Z"
        )
    if name == "datacontenttype" and not _MEDIA_TYPE.match(value):
        return FieldError(pointer, "must be an RFC 2046 media type such as application/json")
    return None


def string_problem(value: str) -> str | None:
    """Why `value` is not a CloudEvents String (a character the type system forbids), or None."""
    if value.isascii() and value.isprintable():  # the usual case, answered in C
        return None
    found = _NOT_IN_STRINGS.search(value)
    if found is None:
        return None
    return (
        f"must not contain U+{ord(found.group()):04X} at position {found.start()}: CloudEvents strings "
        "exclude control characters, lone surrogates and noncharacters"
    )


def _extension_errors(name: str, value: Any, prefix: str) -> list[FieldError]:
    pointer = f"{prefix}/{name.replace('~', '~0').replace('/', '~1')}"
    if not _EXTENSION_NAME.match(name):
        return [FieldError(pointer, "extension attribute names are 1-20 lower-case letters or digits")]
    if isinstance(value, str) and (problem := string_problem(value)):
        return [FieldError(pointer, problem)]
    if (
        value is None
        or isinstance(value, bool | str)
        or (isinstance(value, int) and -(2**31) <= value < 2**31)
    ):
        return []
    return [FieldError(pointer, "extension values are strings, booleans or 32-bit integers")]


def parse_structured(obj: Any, *, prefix: str = "") -> Parsed:
    """Parse one event in the JSON format (structured mode, or one element of a batch)."""
    if not isinstance(obj, dict):
        return Parsed(obj, None, [FieldError(prefix, "a CloudEvent must be a JSON object")])
    errors: list[FieldError] = []
    for name in REQUIRED_ATTRIBUTES:
        if name not in obj or obj[name] is None:
            errors.append(FieldError(f"{prefix}/{name}", "is required"))
    attributes: dict[str, Any] = {}
    extensions: dict[str, Any] = {}
    for name, value in obj.items():
        if name in ("data", "data_base64"):
            continue
        if name in CONTEXT_ATTRIBUTES:
            if value is None and name not in REQUIRED_ATTRIBUTES:
                continue  # optional attributes may be given as null
            if value is not None:
                problem = _check_attribute(name, value, prefix)
                if problem:
                    errors.append(problem)
                attributes[name] = value
        else:
            errors.extend(_extension_errors(name, value, prefix))
            extensions[name] = value
    if "data" in obj and "data_base64" in obj:
        errors.append(FieldError(f"{prefix}/data_base64", "an event carries data or data_base64, not both"))
    if errors:
        return Parsed(obj, None, sorted(errors, key=lambda e: e.pointer))
    event = CloudEvent(
        specversion=attributes["specversion"],
        id=attributes["id"],
        source=attributes["source"],
        type=attributes["type"],
        time=parse_rfc3339(attributes["time"]) if "time" in attributes else None,
        subject=attributes.get("subject"),
        dataschema=attributes.get("dataschema"),
        datacontenttype=attributes.get("datacontenttype"),
        data=obj.get("data", obj.get("data_base64")),
        has_data="data" in obj or "data_base64" in obj,
        data_is_base64="data_base64" in obj,
        extensions=extensions,
    )
    return Parsed(obj, event, [])


def parse_batch(obj: Any) -> tuple[list[Parsed], list[FieldError]]:
    """A batch is a JSON array of events; returns per-event parses, or a batch-level error."""
    if not isinstance(obj, list):
        return [], [FieldError("", "a CloudEvents batch must be a JSON array of events")]
    return [parse_structured(item, prefix=f"/{index}") for index, item in enumerate(obj)], []


def parse_binary(headers: Mapping[str, str], body: bytes, content_type: str | None) -> Parsed:
    """Binary mode: attributes in `ce-*` headers (percent-encoded), data is the body."""
    attributes: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("ce-") and len(lowered) > 3:
            attributes[lowered[3:]], problem = _header_text(value)
            if problem:
                errors.append(FieldError(f"/{lowered[3:]}", f"the {lowered} header {problem}"))
    if content_type:
        attributes["datacontenttype"] = content_type
    raw = {**attributes}
    if body:
        if is_json_media_type(content_type):
            try:
                attributes["data"] = json_decode(body)
            except (ValueError, UnicodeDecodeError) as exc:
                errors.append(FieldError("/data", f"the body is not valid JSON ({exc})"))
        else:
            attributes["data"] = body.decode("utf-8", errors="replace")
        raw["data"] = attributes.get("data")
    parsed = parse_structured(attributes)
    if errors:
        return Parsed(raw, None, parsed.errors + errors)
    return Parsed(raw, parsed.event, parsed.errors)


def _header_text(value: str) -> tuple[str, str | None]:
    """A `ce-*` header's attribute value, and why it is unreadable (or None).

    The HTTP binding percent-encodes attribute values as UTF-8. The server hands us header
    bytes decoded as ISO-8859-1 (WSGI and ASGI both do), so raw bytes are re-read as UTF-8
    too; what is not UTF-8 is kept with U+FFFD in its place, to show what arrived."""
    raw = value.encode("latin-1", errors="replace")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return unquote(raw.decode("utf-8", errors="replace")), "is not UTF-8"
    try:
        return unquote(text, errors="strict"), None
    except UnicodeDecodeError:
        return unquote(text), "percent-decodes to bytes that are not UTF-8"


def is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


def intake_errors(raw: Mapping[str, Any], *, prefix: str = "") -> list[FieldError]:
    """What the control tower needs beyond the spec, read from one event as received (a
    structured event, or binary mode's attributes with `data`): JSON data to validate, and
    attributes no longer than our columns. Never raises; `time` is not required."""
    errors: list[FieldError] = []
    for name, limit in MAX_LENGTHS.items():
        value = raw.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors.append(
                FieldError(f"{prefix}/{name}", f"must be at most {limit} characters (got {len(value)})")
            )
    content_type = raw.get("datacontenttype")
    if "data_base64" in raw:
        errors.append(FieldError(f"{prefix}/data_base64", "contracts carry JSON data; send it as data"))
    elif "data" not in raw:
        errors.append(FieldError(f"{prefix}/data", "is required"))
    elif isinstance(content_type, str) and not is_json_media_type(content_type):
        errors.append(
            FieldError(f"{prefix}/datacontenttype", "must be application/json (contracts carry JSON data)")
        )
    return errors
