"""Reading plants and suppliers, always through the reader's scope."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save

from controltower.accounts.scope import Scope
from controltower.masterdata.models import Plant, Supplier


def plants_visible(*, scope: Scope) -> QuerySet[Plant]:
    return scope.filter(Plant.objects.all(), plant_field="id")


def suppliers_visible(*, scope: Scope) -> QuerySet[Supplier]:
    return scope.filter(Supplier.objects.all(), supplier_field="id")


# Codes of plants and suppliers are looked up on every intake request; they change rarely.
# Known codes are cached per process for a minute (and dropped at once on a local save or
# delete); unknown codes always ask the database, so a newly onboarded plant works at once.
PARTNER_CACHE_SECONDS = 60.0
_partner_cache: dict[type, dict[str, tuple[int, float]]] = {Plant: {}, Supplier: {}}
_partner_lock = threading.Lock()


def partner_ids(model: type[Plant] | type[Supplier], codes: Iterable[str]) -> dict[str, int]:
    """{code: id} for the given plant or supplier codes that exist."""
    wanted = set(codes)
    now = time.monotonic()
    cache = _partner_cache[model]
    found: dict[str, int] = {}
    for code in wanted:
        hit = cache.get(code)
        if hit is not None and now - hit[1] < PARTNER_CACHE_SECONDS:
            found[code] = hit[0]
    missing = wanted - found.keys()
    if missing:
        fresh = dict(model.objects.filter(code__in=missing).values_list("code", "id"))
        with _partner_lock:
            cache.update({code: (pk, now) for code, pk in fresh.items()})
        found.update(fresh)
    return found


def _forget_partners(sender, **kwargs) -> None:
    with _partner_lock:
        _partner_cache[sender].clear()


for _model in (Plant, Supplier):
    post_save.connect(_forget_partners, sender=_model, dispatch_uid=f"forget-{_model.__name__}")
    post_delete.connect(_forget_partners, sender=_model, dispatch_uid=f"forget-{_model.__name__}-deleted")


def partner_codes_by_gln(model: type[Plant] | type[Supplier], glns: Iterable[str]) -> dict[str, str]:
    """{gln: code} for the plants or suppliers registered with these GLNs."""
    wanted = {gln for gln in glns if gln}
    if not wanted:
        return {}
    return dict(model.objects.filter(gln__in=wanted).values_list("gln", "code"))
