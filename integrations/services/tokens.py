"""Source-system tokens and the principal a request runs as when it presents one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from controltower.accounts.access import Access
from controltower.accounts.roles import Capability
from controltower.accounts.scope import Scope
from controltower.tokens import token_generate
from integrations.models import SourceSystem, SystemToken

SYSTEM_TOKEN_KIND = "cts"
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class SystemPrincipal:
    """Who a request is when it carries a system token: the system, not a person.

    It may post events whose `source` belongs to its system and read that system's own events;
    it holds no user role, so every page and operator action refuses it.
    """

    system: SourceSystem
    token: SystemToken
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False
    is_anonymous: bool = False

    @property
    def pk(self) -> str:
        return f"system:{self.system.pk}"

    def get_username(self) -> str:
        return f"system:{self.system.code}"

    def controltower_access(self) -> Access:
        scope = Scope(
            plant_ids=frozenset({self.system.plant_id} if self.system.plant_id else ()),
            supplier_ids=frozenset({self.system.supplier_id} if self.system.supplier_id else ()),
        )
        return Access(
            authenticated=True,
            # A system sees the payloads of the traces it takes part in (it sent or receives them).
            capabilities=frozenset({Capability.VIEW, Capability.VIEW_PAYLOADS}),
            scope=scope,
            system_id=self.system.pk,
        )


def system_token_create(
    *,
    system: SourceSystem,
    name: str = "default",
    expires_in: timedelta | None = None,
    rate_limit_per_minute: int | None = None,
) -> tuple[SystemToken, str]:
    """A new token for `system`; returns the record and the plaintext (never stored)."""
    new = token_generate(kind=SYSTEM_TOKEN_KIND)
    token = SystemToken.objects.create(
        system=system,
        name=name,
        digest=new.digest,
        display_prefix=new.display_prefix,
        expires_at=timezone.now() + expires_in if expires_in else None,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return token, new.plaintext


def system_token_revoke(*, token: SystemToken) -> bool:
    """Revoke now, for every web process at once (the authentication cache entry is dropped);
    False when it was already revoked (idempotent, race-safe)."""
    revoked = token.revoke()
    cache.delete(_cache_key(token.digest))
    return revoked


TOKEN_CACHE_SECONDS = 30


def _cache_key(digest: str) -> str:
    return f"ct:system-token:{digest}"


def _snapshot(digest: str) -> dict[str, Any] | None:
    """What authentication needs about a token and its system, from the database."""
    token = SystemToken.objects.select_related("system").filter(digest=digest).first()
    if token is None:
        return None
    system = token.system
    return {
        "token": {
            "pk": token.pk,
            "name": token.name,
            "expires_at": token.expires_at,
            "revoked_at": token.revoked_at,
            "last_used_at": token.last_used_at,
            "rate_limit_per_minute": token.rate_limit_per_minute,
        },
        "system": {
            "pk": system.pk,
            "code": system.code,
            "name": system.name,
            "kind": system.kind,
            "plant_id": system.plant_id,
            "supplier_id": system.supplier_id,
            "active": system.active,
        },
        "sources": sorted(system.sources.values_list("source", flat=True)),
    }


def resolve_system_token(digest: str) -> tuple[SystemPrincipal, SystemToken] | None:
    """The authentication resolver for `cts_` tokens (registered in `IntegrationsConfig.ready`).

    Every intake request authenticates, so the token, its system and the system's sources are
    cached for TOKEN_CACHE_SECONDS (in Redis when configured, shared by all web processes).
    Revoking a token or changing a system drops the cached entries at once.
    """
    key = _cache_key(digest)
    snapshot = cache.get(key)
    if snapshot is None:
        snapshot = _snapshot(digest)
        if snapshot is None:
            return None
        cache.set(key, snapshot, TOKEN_CACHE_SECONDS)
    token = SystemToken(system_id=snapshot["system"]["pk"], **snapshot["token"])
    system = SourceSystem(**snapshot["system"])
    system.registered_sources = frozenset(snapshot["sources"])
    now = timezone.now()
    if token.revoked_at is not None or not system.active or (token.expires_at and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        SystemToken.objects.filter(pk=token.pk).update(last_used_at=now)
        snapshot["token"]["last_used_at"] = now
        cache.set(key, snapshot, TOKEN_CACHE_SECONDS)
    token.system = system
    return SystemPrincipal(system=system, token=token), token


def forget_system_tokens(*, system_id: int) -> None:
    """Drop cached authentication for every token of a system (after it changed)."""
    digests = SystemToken.objects.filter(system_id=system_id).values_list("digest", flat=True)
    cache.delete_many([_cache_key(digest) for digest in digests])
