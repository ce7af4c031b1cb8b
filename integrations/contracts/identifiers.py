"""Business identifiers declared by a contract's ``x-identifiers`` keyword.

``x-identifiers`` maps a JSON pointer into ``data`` to an identifier kind. A pointer segment
``*`` means "every element of this array". A mapping value is either a kind string or an
object ``{"kind": ..., "prefix_pointer": ...}``; with a prefix pointer the identifier value
becomes ``"<prefix>/<value>"`` (used for ``po_line``: ``"4500012345/10"``). A ``*`` in the
prefix pointer binds to the same array index as the corresponding ``*`` in the key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import Contract

__all__ = [
    "IDENTIFIER_KINDS",
    "IdentifierSpec",
    "extract_identifiers",
    "identifier_specs",
    "parse_pointer",
    "resolve",
]

#: Every identifier kind a contract may declare.
IDENTIFIER_KINDS: frozenset[str] = frozenset(
    {
        "purchase_order",
        "po_line",
        "supplier",
        "shipment",
        "tracking_number",
        "goods_receipt",
        "production_order",
        "customer_order",
        "plant",
        "material",
        "lot",
        "message",
    }
)

WILDCARD = "*"


@dataclass(frozen=True)
class IdentifierSpec:
    """One normalised ``x-identifiers`` entry."""

    pointer: str
    kind: str
    prefix_pointer: str | None = None


def parse_pointer(pointer: str) -> list[str]:
    """Split an RFC 6901 pointer into unescaped segments; ``""`` is the root (no segments).

    Raises ``ValueError`` when the pointer is neither empty nor starts with ``/``.
    """
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {pointer!r}")
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/")]


def resolve(
    document: Any, segments: list[str], bound: tuple[int, ...] = ()
) -> Iterator[tuple[tuple[int, ...], Any]]:
    """Yield ``(wildcard indexes, value)`` for every match of ``segments`` in ``document``.

    A ``*`` segment fans out over array elements (the index is appended to the tuple);
    other segments address object members or, when numeric, array elements. Absent paths
    yield nothing; nothing raises.
    """
    if not segments:
        yield bound, document
        return
    head, rest = segments[0], segments[1:]
    if head == WILDCARD:
        if isinstance(document, list):
            for index, item in enumerate(document):
                yield from resolve(item, rest, (*bound, index))
        return
    if isinstance(document, dict):
        if head in document:
            yield from resolve(document[head], rest, bound)
    elif isinstance(document, list) and head.isdigit() and (head == "0" or head[0] != "0"):
        index = int(head)
        if index < len(document):
            yield from resolve(document[index], rest, bound)


def bind(segments: list[str], bound: tuple[int, ...]) -> list[str]:
    """Replace the n-th ``*`` in ``segments`` by the n-th bound index (extra ``*`` stay)."""
    out: list[str] = []
    remaining = list(bound)
    for segment in segments:
        if segment == WILDCARD and remaining:
            out.append(str(remaining.pop(0)))
        else:
            out.append(segment)
    return out


def scalar_text(value: Any) -> str | None:
    """Identifier text of a JSON scalar: strings stripped, integral numbers without ``.0``.

    Returns ``None`` for blanks, booleans, null, objects and arrays.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        return None
    return text or None


def identifier_specs(declared: Mapping[str, Any]) -> list[IdentifierSpec]:
    """Normalise an ``x-identifiers`` mapping, in declaration order.

    Raises ``ValueError`` on a malformed entry (value neither a kind string nor an object
    with a string ``kind`` and optional string ``prefix_pointer``). Unknown kinds are kept;
    :func:`integrations.contracts.check_catalog` reports them.
    """
    specs: list[IdentifierSpec] = []
    for pointer, value in declared.items():
        if isinstance(value, str):
            specs.append(IdentifierSpec(pointer, value))
        elif (
            isinstance(value, dict)
            and isinstance(value.get("kind"), str)
            and isinstance(value.get("prefix_pointer", ""), str)
            and set(value) <= {"kind", "prefix_pointer"}
        ):
            specs.append(IdentifierSpec(pointer, value["kind"], value.get("prefix_pointer")))
        else:
            raise ValueError(f"x-identifiers[{pointer!r}]: expected a kind or {{kind, prefix_pointer}}")
    return specs


def _values(data: Any, spec: IdentifierSpec) -> Iterator[str]:
    prefix_segments = parse_pointer(spec.prefix_pointer) if spec.prefix_pointer else None
    for bound, raw in resolve(data, parse_pointer(spec.pointer)):
        text = scalar_text(raw)
        if text is None:
            continue
        if prefix_segments is None:
            yield text
            continue
        prefixes = (scalar_text(v) for _, v in resolve(data, bind(prefix_segments, bound)))
        prefix = next((p for p in prefixes if p is not None), None)
        if prefix is not None:  # a po_line without its PO number would not be unique
            yield f"{prefix}/{text}"


def extract_identifiers(contract: Contract, data: Any) -> list[tuple[str, str]]:
    """The business identifiers in ``data`` as ``(kind, value)`` pairs.

    Guarantees: declaration order of ``x-identifiers``, then document order within a
    pointer; each pair at most once; values are stripped strings; absent, null, blank or
    non-scalar values are skipped; prefixed values (``po_line``) are ``"<prefix>/<value>"``
    and are skipped when the prefix is missing. Never raises for JSON-like ``data``
    (a malformed declaration raises ``ValueError``; check_catalog catches those early).
    """
    seen: set[tuple[str, str]] = set()
    pairs: list[tuple[str, str]] = []
    for spec in identifier_specs(contract.identifiers):
        for value in _values(data, spec):
            pair = (spec.kind, value)
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
    return pairs
