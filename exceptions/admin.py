"""Admin: teams are reference data; cases are worked on their pages (read-only here)."""

from __future__ import annotations

from django.contrib import admin

from exceptions.models import Case, Team


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
