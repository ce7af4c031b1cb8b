"""Role and scope checks: the single helper pages, APIs and websockets use.

`access_for(user)` answers both questions at once — what may this user do (capabilities from
roles) and what may they see (scope) — and caches the answer on the user object for the request.
Views call `access.require(...)`/`require_capability`, APIs use `HasCapability`, consumers call
`access_for` through `database_sync_to_async`. Nothing else decides access.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from controltower.accounts.roles import Capability, capabilities_of
from controltower.accounts.scope import FULL_SCOPE, NO_SCOPE, Scope

_CACHE_ATTR = "_controltower_access"


@dataclass(frozen=True)
class Access:
    authenticated: bool
    capabilities: frozenset[Capability]
    scope: Scope
    # Set when the caller is a source system (system token): it sees only its own system's data.
    system_id: int | None = None

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, capability: Capability) -> None:
        if not self.can(capability):
            raise PermissionDenied(f"This needs the '{capability.value}' permission.")


ANONYMOUS = Access(authenticated=False, capabilities=frozenset(), scope=NO_SCOPE)


def access_for(user: Any) -> Access:
    """What `user` may do and see. One query for roles and one for scope, cached per object."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return ANONYMOUS
    own_access = getattr(user, "controltower_access", None)
    if own_access is not None:  # a non-human principal (a source system) states its own access
        return own_access()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    if user.is_superuser:
        access = Access(authenticated=True, capabilities=frozenset(Capability), scope=FULL_SCOPE)
    else:
        roles = set(user.groups.values_list("name", flat=True))
        if user.sees_all_partners:
            scope = FULL_SCOPE
        else:
            scope = Scope(
                plant_ids=frozenset(user.plants.values_list("id", flat=True)),
                supplier_ids=frozenset(user.suppliers.values_list("id", flat=True)),
            )
        access = Access(authenticated=True, capabilities=capabilities_of(roles), scope=scope)
    setattr(user, _CACHE_ATTR, access)
    return access


def forget_access(user: Any) -> None:
    """Drop the cached answer (after roles or scope changed on this object)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def require_capability(capability: Capability) -> Callable:
    """Decorator for function views: sign-in first, then the capability (403 otherwise)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            access_for(request.user).require(capability)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class CapabilityRequiredMixin(AccessMixin):
    """For class-based views: set `capability`; anonymous users go to the login page."""

    capability: Capability = Capability.VIEW

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.access = access_for(request.user)
        self.access.require(self.capability)
        return super().dispatch(request, *args, **kwargs)


class HasCapability(BasePermission):
    """DRF permission: the caller is authenticated and holds `capability`."""

    capability: Capability = Capability.VIEW

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return access_for(request.user).can(self.capability)

    @classmethod
    def of(cls, capability: Capability) -> type[HasCapability]:
        return type(f"Has{capability.value.title().replace('_', '')}", (cls,), {"capability": capability})


class IsPerson(BasePermission):
    """DRF permission for APIs that act as a person (their roles, their tokens, their jobs): a
    source system's token holds no user account, so it is refused with 403, not let through to
    code that needs one."""

    message = "This needs a person's sign-in or personal token; a source-system token cannot use it."

    def has_permission(self, request, view) -> bool:
        access = access_for(request.user)
        return access.authenticated and access.system_id is None


CanView = HasCapability.of(Capability.VIEW)
CanRecover = HasCapability.of(Capability.RECOVER)
CanOperate = HasCapability.of(Capability.OPERATE)
CanConfigure = HasCapability.of(Capability.CONFIGURE)
