from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    label = "integrations"
    verbose_name = "Integrations: network, intake and delivery"

    def ready(self) -> None:
        from controltower.accounts.authentication import register_token_resolver
        from integrations.services.tokens import SYSTEM_TOKEN_KIND, resolve_system_token

        register_token_resolver(SYSTEM_TOKEN_KIND, resolve_system_token)
