from __future__ import annotations

from django.contrib import admin

from controltower.traces.models import IdentifierRule, MilestoneBudget, Trace, TraceMilestone


@admin.register(IdentifierRule)
class IdentifierRuleAdmin(admin.ModelAdmin):
    """How each system's spelling of an identifier is normalised. Saving or deleting a rule
    re-keys the events it covers in the background (`controltower.traces.rekey`), so traces
    split by a spelling merge (and traces joined by a wrong rule split) within a minute."""

    list_display = ["kind", "system", "strip_prefix", "strip_suffix", "strip_leading_zeros", "uppercase"]
    list_filter = ["kind", "system"]
    list_select_related = ["system"]
    fields = ["system", "kind", "strip_prefix", "strip_suffix", "strip_leading_zeros", "uppercase"]


@admin.register(MilestoneBudget)
class MilestoneBudgetAdmin(admin.ModelAdmin):
    """Time budgets per milestone, overriding the flow's defaults (`controltower.traces.flows`).
    Most specific wins: plant+supplier, plant, supplier, then a row with neither, then the flow."""

    list_display = ["flow", "milestone", "plant", "supplier", "budget_minutes"]
    list_filter = ["flow", "milestone", "plant", "supplier"]
    list_select_related = ["plant", "supplier"]
    fields = ["flow", "milestone", "plant", "supplier", "budget_minutes"]


class TraceMilestoneInline(admin.TabularInline):
    model = TraceMilestone
    fields = ["position", "code", "state", "expected_by", "done_at", "event"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    """Read-only: traces are written by correlation only."""

    list_display = [
        "id",
        "flow",
        "root",
        "plant",
        "supplier",
        "state",
        "next_due_at",
        "event_count",
        "first_event_at",
        "last_event_at",
    ]
    list_filter = ["flow", "state", "plant", "supplier"]
    inlines = [TraceMilestoneInline]
    list_select_related = ["root", "plant", "supplier"]
    search_fields = ["root__key"]
    date_hierarchy = "last_event_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
