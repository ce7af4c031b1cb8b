from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "controltower.accounts"
    label = "accounts"
    verbose_name = "Accounts and access"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from controltower.accounts.roles import ensure_role_groups

        # Roles are groups; make sure each exists after every migrate (fresh or existing DB).
        post_migrate.connect(ensure_role_groups, sender=self)
        import controltower.openapi  # noqa: F401  (registers the bearer scheme with drf-spectacular)
