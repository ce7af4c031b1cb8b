"""Reading accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from controltower.accounts.models import PersonalToken, User


def personal_tokens_of(*, user: User) -> QuerySet[PersonalToken]:
    return PersonalToken.objects.filter(user=user)


def roles_of(*, user: User) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))
