"""HMAC signatures of outbound deliveries, so a target can tell our posts from anyone's.

Header `Controltower-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
HMAC-SHA256(secret, "<t>." + body). The timestamp is signed too, so a captured request cannot
be replayed later than `tolerance` seconds; several `v1=` values may appear while a secret is
being rotated (a verifier accepts any).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Controltower-Signature"
DEFAULT_TOLERANCE = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value signing `body` with `secret` at `timestamp` (now when None)."""
    at = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={at},v1={_mac(secret, at, body)}"


def signature_verify(
    *, secret: str, body: bytes, header: str, tolerance: int = DEFAULT_TOLERANCE, now: float | None = None
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance` seconds of `now`.

    Never raises: a malformed header is simply not a valid signature.
    """
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(name, []).append(value)
    try:
        at = int(parts.get("t", [""])[0])
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - at) > tolerance:
        return False
    expected = _mac(secret, at, body)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))
