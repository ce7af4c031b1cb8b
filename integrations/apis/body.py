"""Reading an intake request's body: bounded, exact bytes kept, failures as problems."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from controltower.json_values import json_decode, unsafe_values
from integrations.contracts import FieldError


class BodyProblem(Exception):
    """The request cannot be read as an intake body; carries the answer to give."""

    def __init__(self, *, status: int, slug: str, detail: str, body: bytes, pointer: str = "") -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail, self.body = status, slug, detail, body
        self.errors = [FieldError(pointer, detail)]


def read_body(request) -> bytes:
    """The raw body, refusing one over INTAKE_MAX_BODY_BYTES with 413 (its start is kept)."""
    limit = settings.INTAKE_MAX_BODY_BYTES
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > limit:
        start = request._request.read(1024 * 1024)
        raise BodyProblem(
            status=413,
            slug="payload-too-large",
            body=start,
            detail=f"The body is {declared} bytes; the limit is {limit} bytes. Split it into smaller batches.",
        )
    try:
        return request.body
    except RequestDataTooBig as exc:
        raise BodyProblem(status=413, slug="payload-too-large", body=b"", detail=str(exc)) from exc


def parse_json(body: bytes) -> Any:
    """The body's JSON value, parsed once. Refuses (400) a body that is not UTF-8 JSON or that
    holds a value we cannot keep (NUL, a lone surrogate, NaN/Infinity, nesting past
    `MAX_DEPTH`), naming each by pointer. (CloudEvents intake uses `decode_body` and checks per
    event, so that one bad event does not refuse a batch.)"""
    value = decode_body(body)
    found = unsafe_values(value)
    if found:
        problem = BodyProblem(
            status=400,
            slug="validation-error",
            body=body,
            detail=f"The body holds {len(found)} value(s) that cannot be kept: {found[0].pointer or '/'} "
            f"{found[0].detail}.",
        )
        problem.errors = found
        raise problem
    return value


def decode_body(body: bytes) -> Any:
    """The body's JSON value (nesting too deep for the parser marked, see `json_decode`); 400
    for a body that is not UTF-8 JSON."""
    try:
        return json_decode(body)
    except UnicodeDecodeError as exc:
        raise BodyProblem(
            status=400, slug="malformed-request", body=body, detail=f"The body is not UTF-8: {exc}"
        ) from exc
    except ValueError as exc:
        raise BodyProblem(
            status=400, slug="malformed-request", body=body, detail=f"The body is not valid JSON: {exc}"
        ) from exc


def media_type(request) -> str:
    return (request.META.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()


def request_headers(request) -> dict[str, str]:
    return dict(request.headers.items())
