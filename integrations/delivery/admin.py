"""Admin for targets and subscriptions (configuration); deliveries and jobs are read-only here
— retry, replay and pause go through the pages and API, which audit who did what."""

from __future__ import annotations

from django.contrib import admin

from controltower.encryption import WriteOnlySecretsForm
from integrations.delivery.models import Delivery, DeliveryAttempt, ReplayJob, Subscription, Target


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    fields = ["name", "event_types", "mapping", "active"]


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    form = WriteOnlySecretsForm  # the secret is never sent back to the browser
    list_display = ["code", "name", "url", "sandbox", "active", "paused", "circuit", "max_attempts"]
    list_filter = ["sandbox", "active", "paused", "circuit"]
    search_fields = ["code", "name", "url"]
    readonly_fields = [
        "paused",
        "paused_reason",
        "paused_by",
        "paused_at",
        "circuit",
        "circuit_opened_at",
        "consecutive_failures",
    ]
    inlines = [SubscriptionInline]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "target", "mapping", "active"]
    list_filter = ["target", "mapping", "active"]
    filter_horizontal = ["plants", "suppliers"]


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = [
        "number",
        "cause",
        "job",
        "started_at",
        "latency_ms",
        "status_code",
        "error_class",
        "error",
        "outcome",
    ]
    fields = readonly_fields


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "target", "type", "status", "attempts_total", "created_at"]
    list_filter = ["status", "target", "type"]
    list_select_related = ["target"]
    inlines = [AttemptInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ReplayJob)
class ReplayJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "state", "total", "created_by", "created_at", "still_failing"]
    list_filter = ["kind", "state"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
