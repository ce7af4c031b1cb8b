"""Reading the sandbox: receivers with their counts, and what each received."""

from __future__ import annotations

from django.db.models import Count, Max, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from integrations.sandbox.models import SandboxReceipt, SandboxReceiver


def sandbox_receiver_path(*, code: str) -> str:
    """The path a target points at to deliver to receiver `code`, e.g. `/sandbox/erp/`."""
    return reverse("sandbox:receiver", kwargs={"code": code})


def sandbox_receivers_with_counts() -> QuerySet[SandboxReceiver]:
    """Every receiver by code, annotated with `receipt_count` (distinct keys received),
    `received_count` (requests recorded, repeats included) and `last_receipt_at` (or None)."""
    return SandboxReceiver.objects.annotate(
        receipt_count=Count("receipts"),
        received_count=Coalesce(Sum("receipts__times_received"), Value(0)),
        last_receipt_at=Max("receipts__last_received_at"),
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
