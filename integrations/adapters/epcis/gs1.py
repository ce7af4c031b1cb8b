"""GS1 keys inside EPCIS identifiers: EPC URNs (TDS 2.x) and GS1 Digital Link URIs.

Only what the mapping needs: the GTIN (and lot) of a trade item, the SSCC of a logistic unit,
the GLN of a location or party and the GSIN of a shipment. Every function returns ``None`` for
anything it does not recognise and never raises.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = [
    "business_number",
    "check_digit",
    "gln",
    "gsin",
    "sscc",
    "trade_item",
]

_EPC_URN = re.compile(r"^urn:epc:(id|class|idpat):([A-Za-z0-9]+):(.+)$", re.IGNORECASE)
_DIGITS = re.compile(r"^[0-9]+$")
# Digital Link primary keys that start the key path (and the qualifiers we read after them).
_DL_PRIMARY = frozenset(
    {"00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018"}
)


def check_digit(body: str) -> str:
    """The GS1 mod-10 check digit for ``body`` (digits only): weights 3,1,3,... from the right."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _epc_parts(uri: str, scheme: str, kinds: tuple[str, ...]) -> list[str] | None:
    """The dot-separated fields of ``urn:epc:<kind>:<scheme>:...``, or None."""
    match = _EPC_URN.match(uri.strip())
    if not match or match.group(1).lower() not in kinds or match.group(2).lower() != scheme:
        return None
    return match.group(3).split(".")


def _digital_link(uri: str) -> dict[str, str] | None:
    """The application identifiers of a GS1 Digital Link URI (any host), e.g. {"01": ..., "10": ...}."""
    try:
        parts = urlsplit(uri.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    start = next((i for i, s in enumerate(segments) if s in _DL_PRIMARY), None)
    if start is None:
        return None
    pairs = segments[start:]
    return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs) - 1, 2)}


def _key(prefix: str, reference: str, *, length: int, lead_from_reference: bool) -> str | None:
    """Assemble a GS1 key (with check digit) from an EPC company prefix and reference."""
    if not (_DIGITS.match(prefix) and _DIGITS.match(reference)):
        return None
    body = reference[0] + prefix + reference[1:] if lead_from_reference else prefix + reference
    return body + check_digit(body) if len(body) == length - 1 else None


def _padded(value: str | None, lengths: tuple[int, ...], target: int) -> str | None:
    if value is None or not _DIGITS.match(value) or len(value) not in lengths:
        return None
    return value.zfill(target)


def trade_item(uri: object) -> tuple[str, str | None] | None:
    """``(GTIN-14, lot or None)`` of an SGTIN / LGTIN / SGTIN pattern / Digital Link ``/01/``."""
    if not isinstance(uri, str):
        return None
    for kinds, scheme in ((("id", "idpat"), "sgtin"), (("class",), "lgtin")):
        fields = _epc_parts(uri, scheme, kinds)
        if fields and len(fields) >= 3:
            gtin = _key(fields[0], fields[1], length=14, lead_from_reference=True)
            lot = unquote(".".join(fields[2:])) if scheme == "lgtin" else None
            return (gtin, lot or None) if gtin else None
    keys = _digital_link(uri)
    gtin = _padded(keys.get("01") if keys else None, (8, 12, 13, 14), 14)
    return (gtin, keys.get("10") or None) if gtin and keys else None


def sscc(uri: object) -> str | None:
    """The 18-digit SSCC of ``urn:epc:id:sscc:...`` or a Digital Link ``/00/``."""
    if not isinstance(uri, str):
        return None
    fields = _epc_parts(uri, "sscc", ("id",))
    if fields and len(fields) == 2:
        return _key(fields[0], fields[1], length=18, lead_from_reference=True)
    keys = _digital_link(uri)
    return _padded(keys.get("00") if keys else None, (18,), 18)


def gln(uri: object) -> str | None:
    """The 13-digit GLN of an SGLN / PGLN URN or a Digital Link ``/414/`` or ``/417/``."""
    if not isinstance(uri, str):
        return None
    for scheme, count in (("sgln", 3), ("pgln", 2)):
        fields = _epc_parts(uri, scheme, ("id",))
        if fields and len(fields) == count:
            return _key(fields[0], fields[1], length=13, lead_from_reference=False)
    keys = _digital_link(uri) or {}
    return _padded(keys.get("414") or keys.get("417"), (13,), 13)


def gsin(uri: object) -> str | None:
    """The 17-digit GSIN (shipment id) of ``urn:epc:id:gsin:...`` or a Digital Link ``/402/``."""
    if not isinstance(uri, str):
        return None
    fields = _epc_parts(uri, "gsin", ("id",))
    if fields and len(fields) == 2:
        return _key(fields[0], fields[1], length=17, lead_from_reference=False)
    keys = _digital_link(uri)
    return _padded(keys.get("402") if keys else None, (17,), 17)


def business_number(uri: str) -> str:
    """The business number inside a transaction / class URI: its last path or colon segment.

    ``http://transaction.acme.com/po/12345678`` gives ``12345678``;
    ``urn:epcglobal:cbv:bt:0614141111114:PO-4500012345`` gives ``PO-4500012345``. URLs lose their
    query and fragment first; a value without separators comes back stripped.
    """
    text = uri.strip()
    if "://" in text:
        text = text.split("#", 1)[0].split("?", 1)[0]
    segments = [s for s in re.split(r"[/:]", text) if s.strip()]
    return unquote(segments[-1]).strip() if segments else text
