"""DRF parsers that refuse, with a 400 naming the field, bodies the database cannot hold.

Python's `json` reads things PostgreSQL and our JSON columns cannot store: a NUL character
(text cannot hold U+0000), a lone UTF-16 surrogate (`"\\ud800"` is not encodable as UTF-8),
numbers too big for a float (`1e400` becomes infinity, which JSON cannot write back) and
nesting deep enough to exhaust the interpreter's stack. Each used to surface as a 500 from deep
inside the ORM or the encoder. These parsers are the project's defaults for every DRF API (the
intake endpoints read their raw bytes themselves): the request is refused as a validation
problem whose `errors` point at each offending field.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

# Deeper than any body our APIs document; Python's own limit (~1,000) would be a RecursionError.
MAX_DEPTH = 64
# Enough to fix a body; a body with thousands of bad strings need not be listed in full.
MAX_ERRORS = 50


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "Contains a NUL character (U+0000), which no value can hold."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains a lone UTF-16 surrogate (not a character); send valid Unicode."
    return None


def unstorable_values(data: Any) -> Iterator[tuple[str, str]]:
    """(JSON pointer, reason) for each key or value in `data` that cannot be stored as it is.

    Walks iteratively, so a deep body cannot exhaust the stack; stops descending past MAX_DEPTH."""
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        pointer, value, depth = stack.pop()
        if isinstance(value, str):
            problem = _string_problem(value)
        elif isinstance(value, float) and not math.isfinite(value):
            problem = "A number too large to store (or not a number)."
        elif isinstance(value, dict | list) and depth >= MAX_DEPTH:
            problem = f"Nested deeper than {MAX_DEPTH} levels."
        else:
            problem = None
        if problem:
            yield pointer, problem
            continue
        if isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                child = f"{pointer}/{_escape(str(key))}"
                key_problem = _string_problem(str(key))
                if key_problem:
                    yield child, f"The name {key_problem[0].lower()}{key_problem[1:]}"
                else:
                    stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{pointer}/{i}", item, depth + 1) for i, item in reversed(list(enumerate(value))))


def refuse_unstorable(data: Any) -> Any:
    """`data` unchanged, or a ValidationError whose errors point at every unstorable value."""
    if isinstance(data, QueryDict):  # a form: check every value of every field
        data = {key: values[0] if len(values) == 1 else values for key, values in data.lists()}
    found: dict[str, list[str]] = {}
    for pointer, problem in unstorable_values(data):
        found.setdefault(pointer, []).append(problem)
        if len(found) >= MAX_ERRORS:
            break
    if found:
        raise ValidationError(_nested(found))
    return data


def _nested(found: dict[str, list[str]]) -> dict[str, Any]:
    """{"/a/0/b": [...]} -> {"a": {"0": {"b": [...]}}}: the detail shape the problem handler
    flattens back into JSON pointers (keys are already pointer-escaped, so they are split back)."""
    tree: dict[str, Any] = {}
    for pointer, problems in found.items():
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
        if not tokens:
            tree.setdefault("non_field_errors", []).extend(problems)
            continue
        node = tree
        for token in tokens[:-1]:
            node = node.setdefault(token, {})
        node[tokens[-1]] = problems
    return tree


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(parsers.JSONParser):
    """JSON as RFC 8259 defines it, holding only what the database can store."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        return refuse_unstorable(data)


class StrictFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return refuse_unstorable(super().parse(stream, media_type, parser_context))


class StrictMultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        refuse_unstorable(result.data)
        return result
