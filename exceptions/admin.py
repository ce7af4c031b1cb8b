"""Admin: teams, routing rules, SLA policies and rule thresholds are reference data; cases are
worked on their pages, and notifications are records (read-only here)."""

from __future__ import annotations

from django.contrib import admin

from exceptions.models import Case, Digest, Notice, RoutingRule, RuleThreshold, SlaPolicy, Team
from exceptions.rules.thresholds import DEFAULTS


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "webhook"]
    filter_horizontal = ["members"]
    search_fields = ["name"]
    autocomplete_fields = ["webhook"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "order",
        "active",
        "plant",
        "supplier",
        "system",
        "kind",
        "min_severity",
        "team",
        "assignee",
    ]
    list_editable = ["order", "active"]
    list_filter = ["active", "kind", "min_severity", "team"]
    search_fields = ["name"]
    autocomplete_fields = ["plant", "supplier", "system", "team", "assignee"]
    fieldsets = [
        (None, {"fields": ["name", "order", "active"]}),
        (
            "Matches (empty: any; the rule with more set wins, then the lower order)",
            {"fields": ["plant", "supplier", "system", "kind", "min_severity"]},
        ),
        ("Sends the case to", {"fields": ["team", "assignee"]}),
    ]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["severity", "hours", "escalate_team", "escalate_manager"]
    autocomplete_fields = ["escalate_team", "escalate_manager"]


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Notice)
class NoticeAdmin(_ReadOnly):
    list_display = ["case", "event", "channel", "recipient", "created_at", "digest"]
    list_filter = ["event", "channel"]


@admin.register(Digest)
class DigestAdmin(_ReadOnly):
    list_display = ["id", "channel", "recipient", "subject", "created_at", "sent_at", "attempts", "error"]
    list_filter = ["channel"]


@admin.register(Case)
class CaseAdmin(_ReadOnly):
    list_display = ["id", "kind", "severity", "state", "title", "occurrences", "last_seen_at"]
    list_filter = ["kind", "severity", "state"]
    search_fields = ["title"]
    # every change goes through the workflow, which records and announces it


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
