"""Admin for the sandbox: receivers are settable, receipts are facts as received (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from controltower.encryption import WriteOnlySecretsForm
from integrations.sandbox.models import SandboxReceipt, SandboxReceiver
from integrations.sandbox.services import sandbox_receipts_clear


@admin.register(SandboxReceiver)
class SandboxReceiverAdmin(admin.ModelAdmin):
    form = WriteOnlySecretsForm  # the secret is never sent back to the browser
    list_display = [
        "code",
        "name",
        "sandbox",
        "error_rate",
        "error_status",
        "latency_ms",
        "outage",
        "auth_kind",
        "updated_at",
    ]
    list_filter = ["outage", "auth_kind"]
    search_fields = ["code", "name"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["clear_receipts"]

    @admin.display(description="sandbox", boolean=True)
    def sandbox(self, obj: SandboxReceiver) -> bool:
        return True  # a column saying so on every row: these are simulated targets, not systems

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)

    @admin.action(description="Clear the receipts of the selected sandbox receivers")
    def clear_receipts(self, request, queryset):
        count = sum(sandbox_receipts_clear(receiver=receiver) for receiver in queryset)
        self.message_user(request, f"Cleared {count} sandbox receipt(s).")


@admin.register(SandboxReceipt)
class SandboxReceiptAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "receiver",
        "idempotency_key",
        "event_type",
        "event_id",
        "times_received",
        "first_received_at",
        "last_received_at",
    ]
    list_filter = ["receiver"]
    search_fields = ["idempotency_key", "event_id"]
    list_select_related = ["receiver"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # what a target received is a fact
