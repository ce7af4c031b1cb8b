from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from controltower.accounts.lockout import unlock_audit
from controltower.accounts.models import PersonalToken, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = DjangoUserAdmin.fieldsets + (
        ("Scope", {"fields": ("sees_all_partners", "plants", "suppliers")}),
    )
    filter_horizontal = ("groups", "user_permissions", "plants", "suppliers")
    list_display = ["username", "email", "is_active", "sees_all_partners", "last_login"]


@admin.register(PersonalToken)
class PersonalTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their owner (or the command); admins may only inspect and revoke."""

    list_display = [
        "display_prefix",
        "name",
        "user",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "display_prefix"]
    readonly_fields = ["user", "name", "digest", "display_prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from controltower.accounts.services import personal_token_revoke

        count = sum(personal_token_revoke(token=token) for token in queryset)
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(AccessAttempt)
class AuditedAccessAttemptAdmin(AccessAttemptAdmin):
    """Axes' sign-in attempts; deleting them lifts their lock, which our audit log records with
    the admin who did it (Axes' own admin registration is off: AXES_ENABLE_ADMIN)."""

    def delete_model(self, request, obj) -> None:
        unlock_audit(actor=request.user, attempts=[obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        unlock_audit(actor=request.user, attempts=list(queryset))
        super().delete_queryset(request, queryset)


admin.site.register(AccessLog, AccessLogAdmin)
admin.site.register(AccessFailureLog, AccessFailureLogAdmin)
