"""`Authorization: Bearer <token>` for every API.

The token's kind prefix picks its resolver: `ctu` (personal tokens, here) and, as other apps
register them, system tokens. A resolver returns `(user, token_record)` or None. A Bearer
header with an unknown, revoked or expired token is refused with 401, never passed on to
session auth, so a script cannot silently run as the wrong identity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from controltower.tokens import token_digest, token_kind

Resolver = Callable[[str], tuple[Any, Any] | None]
_RESOLVERS: dict[str, Resolver] = {}

PERSONAL_TOKEN_KIND = "ctu"
# Recording every use would turn each API read into a write; a minute's precision is enough.
LAST_USED_PRECISION = timedelta(minutes=1)


def register_token_resolver(kind: str, resolver: Resolver) -> None:
    """Let another app (e.g. integrations' system tokens) authenticate its own token kind."""
    _RESOLVERS[kind] = resolver


def resolve_personal_token(digest: str) -> tuple[Any, Any] | None:
    from controltower.accounts.models import PersonalToken

    token = PersonalToken.objects.usable().select_related("user").filter(digest=digest).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


register_token_resolver(PERSONAL_TOKEN_KIND, resolve_personal_token)


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send exactly one token: 'Authorization: Bearer <token>'.")
        try:
            plaintext = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not ASCII.") from exc
        resolver = _RESOLVERS.get(token_kind(plaintext) or "")
        result = resolver(token_digest(plaintext)) if resolver else None
        if result is None:
            raise exceptions.AuthenticationFailed("The token is unknown, revoked or expired.")
        return result

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="controltower"'
