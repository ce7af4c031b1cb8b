"""GS1 Core Business Vocabulary (CBV 2.0) terms used by EPCIS 2.0 events.

EPCIS lets a value be a standard CBV term or any absolute URI of a user vocabulary. A CBV term
may be written bare (``shipping``, the EPCIS 2.0 JSON form), as an EPCIS 1.x URN
(``urn:epcglobal:cbv:bizstep:shipping``) or as a GS1 Web Vocabulary URI
(``https://ref.gs1.org/cbv/BizStep-shipping``, or the ``cbv:BizStep-shipping`` CURIE of the
EPCIS context). Anything under a GS1-reserved namespace must be a known term, and a bare word
that is not a term is an error: that is how a typo such as ``shipped`` is caught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "BIZ_STEPS",
    "BIZ_TRANSACTION_TYPES",
    "DISPOSITIONS",
    "ERROR_REASONS",
    "SOURCE_DEST_TYPES",
    "Term",
    "Vocabulary",
    "cbv_term",
]


@dataclass(frozen=True)
class Vocabulary:
    """One CBV vocabulary: its human name, its URN and web-URI prefixes and its terms."""

    name: str
    urn_prefix: str
    web_prefix: str
    terms: frozenset[str]
    example: str


@dataclass(frozen=True)
class Term:
    """A normalised vocabulary value: a bare CBV term, or a user-vocabulary URI as sent."""

    value: str
    standard: bool


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


BIZ_STEPS = Vocabulary(
    "business step",
    "urn:epcglobal:cbv:bizstep:",
    "BizStep-",
    _words(
        """accepting arriving assembling collecting commissioning consigning creating_class_instance
        cycle_counting decommissioning departing destroying disassembling dispensing encoding
        entering_exiting holding inspecting installing killing loading other packing picking receiving
        removing repackaging repairing replacing reserving retail_selling sampling sensor_reporting
        shipping staging_outbound stock_taking stocking storing transporting unloading unpacking
        void_shipping"""
    ),
    "shipping",
)

DISPOSITIONS = Vocabulary(
    "disposition",
    "urn:epcglobal:cbv:disp:",
    "Disp-",
    _words(
        """active available completeness_inferred completeness_verified conformant container_closed
        container_open damaged destroyed dispensed disposed encoded expired in_progress in_transit
        inactive mismatch_class mismatch_instance mismatch_quantity needs_replacement no_pedigree_match
        non_conformant non_sellable_other partially_dispensed recalled reserved retail_sold returned
        sellable_accessible sellable_not_accessible stolen unavailable unknown"""
    ),
    "in_transit",
)

BIZ_TRANSACTION_TYPES = Vocabulary(
    "business transaction type",
    "urn:epcglobal:cbv:btt:",
    "BTT-",
    _words("bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt"),
    "po",
)

SOURCE_DEST_TYPES = Vocabulary(
    "source/destination type",
    "urn:epcglobal:cbv:sdt:",
    "SDT-",
    _words("owning_party possessing_party location"),
    "owning_party",
)

ERROR_REASONS = Vocabulary(
    "error reason",
    "urn:epcglobal:cbv:er:",
    "ER-",
    _words("did_not_occur incorrect_data"),
    "incorrect_data",
)

_WEB_BASES = ("https://ref.gs1.org/cbv/", "http://ref.gs1.org/cbv/", "cbv:")
# Namespaces GS1 keeps for its own vocabularies: a value there that is not a known term is wrong,
# never a user extension (the EPCIS JSON schema excludes the same prefixes from "other URI").
_GS1_RESERVED = re.compile(
    r"^(urn:epcglobal:cbv:|https?://(ref|ns)\.gs1\.org/cbv/|https?://(www\.)?gs1\.org/voc/|cbv:)",
    re.IGNORECASE,
)
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


def _gs1_suffix(text: str, vocab: Vocabulary) -> str | None:
    """The term part of a URN / web-URI spelling of ``vocab``, or None for other values."""
    if text.lower().startswith(vocab.urn_prefix):
        return text[len(vocab.urn_prefix) :]
    for base in _WEB_BASES:
        prefix = base + vocab.web_prefix
        if text.lower().startswith(prefix.lower()):
            return text[len(prefix) :]
    return None


def _not_a_term(text: str, vocab: Vocabulary) -> str:
    return (
        f"{text!r} is not a CBV {vocab.name} "
        f"(expected e.g. {vocab.example} or {vocab.urn_prefix}{vocab.example})"
    )


def cbv_term(value: object, vocab: Vocabulary) -> tuple[Term | None, str | None]:
    """Normalise one value of ``vocab``: ``(term, None)`` or ``(None, reason)``.

    Guarantees: a CBV term in any accepted spelling comes back bare with ``standard=True``; an
    absolute URI outside the GS1 namespaces comes back unchanged with ``standard=False``; anything
    else (non-strings, unknown bare words, unknown terms under a GS1 namespace) yields a reason
    sentence. Never raises.
    """
    if not isinstance(value, str) or not value.strip():
        return None, f"must be a CBV {vocab.name} such as {vocab.example}, or a URI"
    text = value.strip()
    suffix = _gs1_suffix(text, vocab)
    if suffix is not None:
        return (Term(suffix, True), None) if suffix in vocab.terms else (None, _not_a_term(text, vocab))
    if text in vocab.terms:
        return Term(text, True), None
    if _GS1_RESERVED.match(text) or not _ABSOLUTE_URI.match(text):
        return None, _not_a_term(text, vocab)
    return Term(text, False), None
