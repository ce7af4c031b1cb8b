from __future__ import annotations

from rest_framework.permissions import BasePermission

from integrations.services.tokens import SystemPrincipal


class IsSourceSystem(BasePermission):
    """Only a source system's token may post events (people read; systems write)."""

    message = "Only a source system's token may post events; create one with `manage.py create_token`."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, SystemPrincipal)
