"""Optional full validation against the GS1 EPCIS 2.0 JSON schema, supplied by the caller.

The project does not ship GS1's schema file (its licence is not an open-source one); a caller
that has it passes it in, and otherwise skips this step.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from integrations.contracts import FORMAT_CHECKER, FieldError
from integrations.contracts.validation import json_pointer

__all__ = ["SCHEMA_FORMAT_CHECKER", "epcis_schema_errors"]

_MAX_DETAIL = 300
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s\"<>\\^`{|}]*$")


def _is_uri(instance: object) -> bool:
    """RFC 3986 absolute URI (scheme + ':' + no spaces or forbidden characters)."""
    return not isinstance(instance, str) or bool(_ABSOLUTE_URI.match(instance))


def _build_checker() -> FormatChecker:
    """The contracts' checker (strict date-time) plus ``uri``, on a private copy.

    jsonschema checks ``uri`` only when the optional rfc3987 package is installed; without it
    the EPCIS schema's "other URI" branch accepts any bare word, e.g. a bizStep ``shipped``.
    """
    checker = FormatChecker(formats=())
    checker.checkers = dict(FORMAT_CHECKER.checkers)
    checker.checks("uri")(_is_uri)
    return checker


#: Format checker used by :func:`epcis_schema_errors`.
SCHEMA_FORMAT_CHECKER = _build_checker()


def _explain(error: ValidationError) -> FieldError:
    """Pointer and message of ``error``; for anyOf/oneOf, of the most relevant alternative."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        error = best_match(error.context)
    message = error.message
    detail = message if len(message) <= _MAX_DETAIL else message[: _MAX_DETAIL - 1] + "…"
    return FieldError(json_pointer(error.absolute_path, prefix=""), detail)


def epcis_schema_errors(document: Any, schema: dict) -> list[FieldError]:
    """Problems of ``document`` under the EPCIS JSON ``schema`` (draft-07), sorted by pointer.

    Formats ``date-time`` and ``uri`` are always enforced (see :data:`SCHEMA_FORMAT_CHECKER`).
    Empty list = valid; each problem once. Raises ``jsonschema.SchemaError`` only when
    ``schema`` itself is not a valid draft-07 schema.
    """
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema, format_checker=SCHEMA_FORMAT_CHECKER)
    found = {_explain(error) for error in validator.iter_errors(document)}
    return sorted(found, key=lambda e: (e.pointer, e.detail))
