"""Reading the sandbox: receivers with their counts, and what each received."""

from __future__ import annotations

from django.db.models import Count, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from controltower.accounts.access import Access
from integrations.delivery.selectors import deliveries_visible
from integrations.sandbox.models import SandboxReceipt, SandboxReceiver


def sandbox_receiver_path(*, code: str) -> str:
    """The path a target points at to deliver to receiver `code`, e.g. `/sandbox/erp/`."""
    return reverse("sandbox:receiver", kwargs={"code": code})


def _visible_keys(access: Access) -> QuerySet | None:
    """Idempotency keys of the deliveries `access` may see, or None when it sees every receipt.

    A receipt is what a target received for one delivery, so it belongs to that delivery's
    plant and supplier: it is scoped exactly as deliveries are. A receipt no delivery of ours
    explains (posted by hand to the sandbox) belongs to no plant, so only full scope sees it."""
    if access.scope.everything and access.system_id is None:
        return None
    return deliveries_visible(access=access).order_by().values("idempotency_key")


def sandbox_receivers_with_counts(*, access: Access) -> QuerySet[SandboxReceiver]:
    """Every receiver by code, annotated with `receipt_count` (distinct keys received),
    `received_count` (requests recorded, repeats included) and `last_receipt_at` (or None),
    counting only the receipts `access` may see."""
    keys = _visible_keys(access)
    only = Q() if keys is None else Q(receipts__idempotency_key__in=keys)
    return SandboxReceiver.objects.annotate(
        receipt_count=Count("receipts", filter=only),
        received_count=Coalesce(Sum("receipts__times_received", filter=only), Value(0)),
        last_receipt_at=Max("receipts__last_received_at", filter=only),
    ).order_by("code")


def sandbox_receiver_get(*, code: str) -> SandboxReceiver | None:
    return SandboxReceiver.objects.filter(code=code).first()


def _receipts_of(receiver: SandboxReceiver | str) -> QuerySet[SandboxReceipt]:
    if isinstance(receiver, SandboxReceiver):
        return SandboxReceipt.objects.filter(receiver=receiver)
    return SandboxReceipt.objects.filter(receiver__code=receiver)


def sandbox_receipts_in_arrival_order(*, receiver: SandboxReceiver | str) -> QuerySet[SandboxReceipt]:
    """Receipts of `receiver` (object or code) in the order their keys first arrived."""
    return _receipts_of(receiver).select_related("receiver").order_by("id")


def sandbox_receipts_newest_first(
    *, receiver: SandboxReceiver | str, idempotency_key: str | None = None
) -> QuerySet[SandboxReceipt]:
    """Receipts of `receiver` (object or code), latest first arrival first; only the one for
    `idempotency_key` when given."""
    receipts = _receipts_of(receiver)
    if idempotency_key is not None:
        receipts = receipts.filter(idempotency_key=idempotency_key)
    return receipts.select_related("receiver").order_by("-id")


def sandbox_receipts_visible(*, access: Access, receiver: SandboxReceiver | str) -> QuerySet[SandboxReceipt]:
    """Receipts of `receiver` that `access` may see (those of its deliveries), newest first."""
    receipts = sandbox_receipts_newest_first(receiver=receiver)
    keys = _visible_keys(access)
    return receipts if keys is None else receipts.filter(idempotency_key__in=keys)
