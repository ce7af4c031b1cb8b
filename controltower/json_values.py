"""The one check of what JSON we can store: every value PostgreSQL and UTF-8 can hold, bounded depth.

Used by intake's hot path (integrations: CloudEvents, EPCIS, resubmissions) and by the DRF
parsers of every other API (controltower/parsers.py), so both refuse the same values, by JSON
pointer, in the same words.

Python's `json` accepts more than RFC 8259 and our storage do: the literals `NaN`, `Infinity` and
`-Infinity`; numbers past the float range (`1e400` becomes `inf`); lone surrogate escapes
(`"\\ud800"`, which no UTF-8 encoder can write); NUL (`"\\u0000"`, which PostgreSQL text and
jsonb cannot hold); and nesting until the interpreter's recursion limit, where it raises
`RecursionError` rather than `ValueError`. Each of these used to reach the database or the
response encoder and end in a 500.

- `json_decode` parses a body once, exactly as `json.loads` does, except that nesting too deep
  for the parser comes back with the too-deep containers replaced by a marker instead of raising;
- `json_encode_checked` writes a value as the JSON text intake stores anyway and, from that
  text, says which checks it still needs, so the walk below mostly has nothing to do;
- `unsafe_values` walks a parsed value (no second parse) and names each value we cannot keep by
  JSON pointer, so a batch can refuse one event and keep the rest;
- `printable` / `printable_json` escape text so that whatever arrived can still be stored and
  answered (NUL as the six characters `\\u0000`, a lone surrogate as `\\udXXX`).

Pure Python; importable without Django settings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem in a JSON value: where (RFC 6901 pointer from the body's or event's root) and
    what. Also what contract validation reports (re-exported by `integrations.contracts`)."""

    pointer: str
    detail: str


#: Containers may nest this deep, counted from the body's root (the root is level 1). Contract
#: data nests 3–4 levels and EPCIS documents about 8; the parser itself gives up near 1,000.
MAX_DEPTH = 32
#: A walk stops after this many findings: a hostile body must not make a huge answer.
MAX_FINDINGS = 20

# Stands in for a container nested past MAX_DEPTH when the parser could not read it. It holds a
# NUL so no string we keep can equal it (a string with a NUL is refused anyway).
TOO_DEEP = "\x00controltower:too-deep"
TOO_DEEP_DETAIL = f"is nested more than {MAX_DEPTH} levels deep"
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
# Strings (which may hold brackets) and brackets: enough to find the nesting of a JSON text.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_PLAIN_DECODER = json.JSONDecoder()


#: What `unsafe_values` must still look at in a value: everything; only the nesting of its
#: containers; nothing at all.
FULL, DEPTH, NONE = "full", "depth", "none"
# json.dumps builds an encoder per call when given any option; this one is built once.
_STRICT_ENCODER = json.JSONEncoder(allow_nan=False)


def json_decode(body: bytes | str) -> Any:
    """The body's JSON value. Raises `UnicodeDecodeError` / `ValueError` as `json.loads` does,
    never `RecursionError`: containers deeper than MAX_DEPTH become `TOO_DEEP`, which
    `unsafe_values` reports by pointer."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except RecursionError:
        return json.loads(_without_deep_containers(text))


def json_encode_checked(value: Any, *, depth: int = 1) -> tuple[str | None, str]:
    """`value` as the JSON text we store (`json.dumps` defaults), and what `unsafe_values` must
    still check in it: the hot path writes this text anyway, so reading it costs a substring
    search instead of a walk. NaN/Infinity fail to encode (None: check it all); NUL and lone
    surrogates show as escapes (a valid pair too: then the walk decides); few brackets mean
    shallow."""
    try:
        text = _STRICT_ENCODER.encode(value)
    except (ValueError, RecursionError):
        return None, FULL
    # With ensure_ascii (the default), NUL and every surrogate are written as these escapes.
    if "\\u" in text and ("\\u0000" in text or "\\ud" in text or "\\uD" in text):
        return text, FULL
    if text.count("{") + text.count("[") <= MAX_DEPTH - depth + 1:  # an overcount: strings too
        return text, NONE
    return text, DEPTH


def _without_deep_containers(text: str) -> str:
    """`text` with every container that opens below MAX_DEPTH replaced by the marker string.

    Only runs for bodies the parser could not read; one regex pass over strings and brackets.
    Unbalanced brackets are left to `json.loads` to refuse as it always would."""
    parts, depth, cut_from, copied = [], 0, None, 0
    marker = json.dumps(TOO_DEEP)
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth == MAX_DEPTH + 1 and cut_from is None:
                cut_from = match.start()
        elif token in "]}":
            depth -= 1
            if depth == MAX_DEPTH and cut_from is not None:
                parts += [text[copied:cut_from], marker]
                copied, cut_from = match.end(), None
    if cut_from is not None:  # never closed: let the parser say so
        parts += [text[copied:cut_from], marker]
        copied = len(text)
    parts.append(text[copied:])
    return "".join(parts)


def array_element_spans(text: str) -> list[tuple[int, int]] | None:
    """Where each element of a JSON array text starts and ends, or None when `text` is not an
    array the parser reads. For keeping a refused batch element exactly as it arrived; it
    parses the text again, so it runs only when an element was refused."""
    at = _WHITESPACE.match(text).end()
    if text[at : at + 1] != "[":
        return None
    at = _WHITESPACE.match(text, at + 1).end()
    spans: list[tuple[int, int]] = []
    while text[at : at + 1] != "]":
        end = _value_end(text, at)
        if end is None:
            return None
        spans.append((at, end))
        at = _WHITESPACE.match(text, end).end()
        if text[at : at + 1] == ",":
            at = _WHITESPACE.match(text, at + 1).end()
        elif text[at : at + 1] != "]":
            return None
    return spans


def _value_end(text: str, start: int) -> int | None:
    try:
        return _PLAIN_DECODER.raw_decode(text, start)[1]
    except ValueError:
        return None
    except RecursionError:  # too deep to parse: its end is where its brackets close
        depth = 0
        for match in _STRUCTURE.finditer(text, start):
            token = match.group()
            depth += 1 if token in "[{" else -1 if token in "]}" else 0
            if depth == 0:
                return match.end()
        return None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as it is, or None."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which cannot be stored"
    if not text.isascii() and _SURROGATE.search(text):
        return "contains a lone surrogate (U+D800–U+DFFF), which is not Unicode text"
    return None


def unsafe_values(value: Any, *, pointer: str = "", depth: int = 1, checks: str = FULL) -> list[FieldError]:
    """Each value under `value` that cannot be stored, by JSON pointer (at most MAX_FINDINGS).

    `value` sits at `pointer` and, if a container, at nesting level `depth` of its body. Finds:
    NUL and lone surrogates in strings and member names, NaN and ±Infinity (literals, or numbers
    past the float range such as 1e400), containers nested past MAX_DEPTH. `checks` is what
    `json_encode_checked` said the value needs (FULL when unknown)."""
    found: list[FieldError] = []
    if checks == FULL:
        _walk(value, pointer, depth, found)
    elif checks == DEPTH:
        _walk_containers(value, pointer, depth, found)
    return found


def _walk_containers(value: Any, pointer: str, depth: int, found: list[FieldError]) -> None:
    """`_walk` for a value whose strings and numbers are known to be fine: nesting only."""
    if isinstance(value, dict):
        if depth > MAX_DEPTH:
            found.append(FieldError(pointer, TOO_DEEP_DETAIL))
            return
        for key, item in value.items():
            if isinstance(item, dict | list):
                _walk_containers(item, f"{pointer}/{_escape(key)}", depth + 1, found)
    elif isinstance(value, list):
        if depth > MAX_DEPTH:
            found.append(FieldError(pointer, TOO_DEEP_DETAIL))
            return
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                _walk_containers(item, f"{pointer}/{index}", depth + 1, found)


def _walk(value: Any, pointer: str, depth: int, found: list[FieldError]) -> None:
    if len(found) >= MAX_FINDINGS:
        return
    if isinstance(value, str):
        if value == TOO_DEEP:
            found.append(FieldError(pointer, TOO_DEEP_DETAIL))
        elif (problem := text_problem(value)) is not None:
            found.append(FieldError(pointer, problem))
    elif isinstance(value, float):
        if not math.isfinite(value):
            found.append(FieldError(pointer, "is NaN or infinite (e.g. 1e400): JSON numbers are finite"))
    elif isinstance(value, dict):
        if depth > MAX_DEPTH:
            found.append(FieldError(pointer, TOO_DEEP_DETAIL))
            return
        for key, item in value.items():
            child = f"{pointer}/{_escape(key)}"
            if (problem := text_problem(key)) is not None:
                found.append(FieldError(child, f"the member name {problem}"))
            _walk(item, child, depth + 1, found)
    elif isinstance(value, list):
        if depth > MAX_DEPTH:
            found.append(FieldError(pointer, TOO_DEEP_DETAIL))
            return
        for index, item in enumerate(value):
            _walk(item, f"{pointer}/{index}", depth + 1, found)


def printable(text: str) -> str:
    """`text` with NUL and lone surrogates written as JSON escapes (`\\u0000`, `\\ud800`), so it
    can be stored in PostgreSQL and encoded as UTF-8 while still showing what arrived."""
    if "\x00" not in text and (text.isascii() or not _SURROGATE.search(text)):
        return text
    return _UNSAFE_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def printable_json(value: Any, *, depth: int = 1) -> Any:
    """A copy of `value` that can be stored as jsonb and answered as strict JSON: strings and
    names through `printable`, NaN/±Infinity as their names, nesting cut at MAX_DEPTH."""
    if isinstance(value, str):
        return "(nested too deep)" if value == TOO_DEEP else printable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict | list) and depth > MAX_DEPTH:
        return "(nested too deep)"
    if isinstance(value, dict):
        return {printable(str(k)): printable_json(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_json(v, depth=depth + 1) for v in value]
    return value


def error_dicts(errors: Iterable[FieldError]) -> list[dict[str, str]]:
    """Errors as answered and stored (`{pointer, detail}`), printable whatever they quote."""
    return [{"pointer": printable(e.pointer), "detail": printable(e.detail)} for e in errors]
