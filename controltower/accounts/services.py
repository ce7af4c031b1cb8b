"""Writing accounts: users with roles and scope, and personal tokens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from controltower.accounts.access import forget_access
from controltower.accounts.authentication import PERSONAL_TOKEN_KIND
from controltower.accounts.models import PersonalToken, User
from controltower.accounts.roles import Role
from controltower.masterdata.models import Plant, Supplier
from controltower.tokens import token_generate


@transaction.atomic
def user_upsert(
    *,
    username: str,
    password: str | None = None,
    roles: Iterable[Role] = (),
    sees_all_partners: bool = False,
    plants: Iterable[Plant] = (),
    suppliers: Iterable[Supplier] = (),
    **fields: object,
) -> User:
    """Create or update `username` with exactly these roles and this scope."""
    user = User.objects.filter(username=username).first() or User(username=username)
    for name, value in fields.items():
        setattr(user, name, value)
    user.sees_all_partners = sees_all_partners
    if password is not None:
        user.set_password(password)
    user.save()
    user.groups.set(Group.objects.filter(name__in=[role.value for role in roles]))
    user.plants.set(plants)
    user.suppliers.set(suppliers)
    forget_access(user)
    return user


def personal_token_create(
    *, user: User, name: str, expires_in: timedelta | None | bool = True
) -> tuple[PersonalToken, str]:
    """A new token for `user`; returns the record and the plaintext, which is never stored.

    `expires_in=True` applies the default lifetime (PERSONAL_TOKEN_DEFAULT_DAYS, 0 = none);
    None or False makes a token that never expires.
    """
    if expires_in is True:
        days = settings.PERSONAL_TOKEN_DEFAULT_DAYS
        expires_in = timedelta(days=days) if days else None
    new = token_generate(kind=PERSONAL_TOKEN_KIND)
    token = PersonalToken.objects.create(
        user=user,
        name=name,
        digest=new.digest,
        display_prefix=new.display_prefix,
        expires_at=timezone.now() + expires_in if expires_in else None,
    )
    return token, new.plaintext


def personal_token_revoke(*, token: PersonalToken) -> bool:
    """Revoke `token` now. Returns False when it was already revoked (race-safe, idempotent)."""
    return token.revoke()
