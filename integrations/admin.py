from django.contrib import admin

from integrations.models import (
    CaptureJob,
    Event,
    EventIdentifier,
    RejectedMessage,
    SourceSystem,
    SystemSource,
    SystemToken,
)


class SystemSourceInline(admin.TabularInline):
    model = SystemSource
    extra = 1


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "plant", "supplier", "owner_team", "criticality", "active"]
    list_filter = ["kind", "criticality", "active"]
    search_fields = ["code", "name", "owner_team"]
    inlines = [SystemSourceInline]


@admin.register(SystemToken)
class SystemTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_token` (shown once); here they are inspected and revoked."""

    list_display = [
        "display_prefix",
        "system",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    readonly_fields = ["system", "digest", "display_prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from integrations.services.tokens import system_token_revoke

        count = sum(system_token_revoke(token=token) for token in queryset)
        self.message_user(request, f"Revoked {count} token(s).")


class EventIdentifierInline(admin.TabularInline):
    model = EventIdentifier
    extra = 0
    readonly_fields = ["kind", "value"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "source", "event_id", "system", "event_time", "received_at"]
    list_filter = ["type", "mode"]
    search_fields = ["event_id", "source"]
    inlines = [EventIdentifierInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # events are facts as received


@admin.register(RejectedMessage)
class RejectedMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "received_at", "system", "type", "status_code", "problem_type"]
    list_filter = ["problem_type", "status_code"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CaptureJob)
class CaptureJobAdmin(admin.ModelAdmin):
    """EPCIS capture jobs are made by captures; here they are looked at, never edited."""

    list_display = ["capture_id", "system", "created_at", "finished_at", "success", "error_behaviour"]
    list_filter = ["success", "error_behaviour"]
    search_fields = ["capture_id", "system__code"]
    exclude = ["body"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
