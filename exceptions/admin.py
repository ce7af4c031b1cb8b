"""Admin: teams and rule thresholds are reference data; cases are worked on their pages (read-only here)."""

from __future__ import annotations

from django.contrib import admin

from exceptions.models import Case, RuleThreshold, Team
from exceptions.rules.thresholds import DEFAULTS


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name"]
    filter_horizontal = ["members"]
    search_fields = ["name"]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "severity", "state", "title", "occurrences", "last_seen_at"]
    list_filter = ["kind", "severity", "state"]
    search_fields = ["title"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # every change goes through the workflow, which records and announces it


@admin.register(RuleThreshold)
class RuleThresholdAdmin(admin.ModelAdmin):
    """Per plant, supplier and/or material; the most specific row wins, the rule's default
    (shown in the list) applies where none does."""

    list_display = ["rule", "plant", "supplier", "material", "value", "default", "enabled"]
    list_filter = ["rule", "enabled", "plant", "supplier"]
    search_fields = ["material", "plant__code", "supplier__code"]

    @admin.display(description="Default")
    def default(self, obj: RuleThreshold) -> str:
        return f"{DEFAULTS[obj.rule]:g}"
