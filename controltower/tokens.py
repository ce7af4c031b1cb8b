"""Bearer tokens, shared by personal (user) tokens and, later, source-system tokens.

A token is `<kind>_<random>`: the kind prefix says which store it lives in, so authentication
can dispatch without trying every table. Only a SHA-256 digest is stored: tokens carry 256 bits
of randomness, so a fast hash is as safe as a slow one and keeps per-request lookups to one
indexed query. The plaintext is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class NewToken:
    plaintext: str
    digest: str
    display_prefix: str


def token_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_kind(plaintext: str) -> str | None:
    kind, sep, rest = plaintext.partition("_")
    return kind if sep and rest else None


def token_generate(*, kind: str) -> NewToken:
    plaintext = f"{kind}_{secrets.token_urlsafe(32)}"
    return NewToken(plaintext=plaintext, digest=token_digest(plaintext), display_prefix=plaintext[:12])
