"""Identifier normalisation: different systems' spellings of one business key become one key.

Pure functions over a `RuleBook` loaded once (per correlation batch or per lookup), so
normalising thousands of identifiers costs one query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from controltower.traces.models import IdentifierRule

PO_LINE = "po_line"
PURCHASE_ORDER = "purchase_order"


@dataclass(frozen=True)
class Rule:
    """A plain copy of an `IdentifierRule`, so a loaded rule book holds no ORM state."""

    strip_prefix: str = ""
    strip_suffix: str = ""
    strip_leading_zeros: bool = False
    uppercase: bool = True

    def apply(self, value: str) -> str:
        value = value.strip()
        # Prefix and suffix match case-insensitively: "po-123" and "PO-123" are the same spelling.
        if self.strip_prefix and value.upper().startswith(self.strip_prefix.upper()):
            value = value[len(self.strip_prefix) :].strip()
        if self.strip_suffix and value.upper().endswith(self.strip_suffix.upper()):
            value = value[: len(value) - len(self.strip_suffix)].strip()
        if self.strip_leading_zeros:
            value = _without_leading_zeros(value)
        if self.uppercase:
            value = value.upper()
        return value


# {(system id or None for every system, kind): rules in creation order}
RuleBook = dict[tuple[int | None, str], list[Rule]]


def identifier_rules_load() -> RuleBook:
    """Every identifier rule, grouped for `normalize_identifier` (one query)."""
    return rule_book(IdentifierRule.objects.order_by("id"))


def rule_book(rules: Iterable[IdentifierRule]) -> RuleBook:
    book: RuleBook = defaultdict(list)
    for rule in rules:
        book[(rule.system_id, rule.kind)].append(
            Rule(
                strip_prefix=rule.strip_prefix,
                strip_suffix=rule.strip_suffix,
                strip_leading_zeros=rule.strip_leading_zeros,
                uppercase=rule.uppercase,
            )
        )
    return dict(book)


def normalize_identifier(*, kind: str, value: str, system_id: int | None, rules: RuleBook) -> str:
    """The normalised key of identifier `value` of `kind` as sent by system `system_id`.

    Applies the system's rules for `kind`, then the global ones, then strips whitespace.
    A `po_line` ("<po>/<line>") normalises its PO part with the `purchase_order` rules and its
    line part by dropping leading zeros ("PO-4500012345/00010" → "4500012345/10" with a portal
    rule stripping "PO-"). Never raises; an empty result means "no usable identifier".
    """
    if kind == PO_LINE and "/" in value:
        po, _, line = value.rpartition("/")
        po_key = _apply(PURCHASE_ORDER, po, system_id, rules)
        line_key = _without_leading_zeros(line.strip()).upper()
        return f"{po_key}/{line_key}" if po_key and line_key else ""
    return _apply(kind, value, system_id, rules)


def _apply(kind: str, value: str, system_id: int | None, rules: RuleBook) -> str:
    value = value.strip()  # before the rules too, so " PO-1" still loses its prefix
    if system_id is not None:
        for rule in rules.get((system_id, kind), ()):
            value = rule.apply(value)
    for rule in rules.get((None, kind), ()):
        value = rule.apply(value)
    return value.strip()


def _without_leading_zeros(value: str) -> str:
    stripped = value.lstrip("0")
    # "000" is the number zero, not an empty key.
    return stripped if stripped or not value else "0"
