"""Reading an intake request's body: bounded, exact bytes kept, failures as problems."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

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
    try:
        return json.loads(body.decode("utf-8"))
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
