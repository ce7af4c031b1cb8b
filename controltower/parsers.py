"""DRF parsers that refuse, with a 400 naming the field, bodies the database cannot hold.

Python's `json` reads things PostgreSQL and our JSON columns cannot store: a NUL character, a
lone UTF-16 surrogate, numbers too big for a float (`1e400` becomes infinity) and nesting deep
enough to exhaust the interpreter's stack. Each used to surface as a 500 from deep inside the ORM
or the encoder. These parsers are the project's defaults for every DRF API (the intake endpoints
read their raw bytes themselves); what may be stored is decided by `controltower.json_values`,
the same check intake uses, and a body failing it is refused as a validation problem whose
`errors` point at each offending field.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from controltower.json_values import unsafe_values


def refuse_unstorable(data: Any) -> Any:
    """`data` unchanged, or a ValidationError whose errors point at every unstorable value."""
    if isinstance(data, QueryDict):  # a form: check every value of every field
        data = {key: values[0] if len(values) == 1 else values for key, values in data.lists()}
    found: dict[str, list[str]] = {}
    for error in unsafe_values(data):
        found.setdefault(error.pointer, []).append(_sentence(error.detail))
    if found:
        raise ValidationError(_nested(found))
    return data


def _sentence(detail: str) -> str:
    # json_values' details continue a field's name ("is nested …"); DRF details stand alone.
    return f"{detail[0].upper()}{detail[1:]}."


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
