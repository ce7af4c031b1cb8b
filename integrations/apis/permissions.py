from __future__ import annotations

from rest_framework.permissions import BasePermission

from integrations.services.tokens import SystemPrincipal


class IsSourceSystem(BasePermission):
    """Only a source system's token may post events (people read; systems write)."""

    message = "Only a source system's token may post events; create one with `manage.py create_token`."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, SystemPrincipal)


class IsPerson(BasePermission):
    """Only a person (a session or a personal token) may use operator tools such as the sandbox:
    a source system's token sees its own events, not what targets received from everyone."""

    message = "A source system's token may not use this; it is for people (a session or a personal token)."

    def has_permission(self, request, view) -> bool:
        return not isinstance(request.user, SystemPrincipal)
