from __future__ import annotations

from django.contrib import admin

from controltower.traces.models import IdentifierRule, Trace


@admin.register(IdentifierRule)
class IdentifierRuleAdmin(admin.ModelAdmin):
    """How each system's spelling of an identifier is normalised. A change applies to events
    correlated afterwards; objects already keyed keep their keys."""

    list_display = ["kind", "system", "strip_prefix", "strip_suffix", "strip_leading_zeros", "uppercase"]
    list_filter = ["kind", "system"]
    list_select_related = ["system"]
    fields = ["system", "kind", "strip_prefix", "strip_suffix", "strip_leading_zeros", "uppercase"]


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    """Read-only: traces are written by correlation only."""

    list_display = [
        "id",
        "flow",
        "root",
        "plant",
        "supplier",
        "event_count",
        "first_event_at",
        "last_event_at",
    ]
    list_filter = ["flow", "plant", "supplier"]
    list_select_related = ["root", "plant", "supplier"]
    search_fields = ["root__key"]
    date_hierarchy = "last_event_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
