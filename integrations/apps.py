from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    label = "integrations"
    verbose_name = "Integrations: network, intake and delivery"

    def ready(self) -> None:
        from controltower.accounts.authentication import register_token_resolver
        from integrations.services.tokens import SYSTEM_TOKEN_KIND, resolve_system_token

        register_token_resolver(SYSTEM_TOKEN_KIND, resolve_system_token)
        self._forget_cached_tokens_on_change()

    def _forget_cached_tokens_on_change(self) -> None:
        """Authentication caches a token with its system and sources (see services.tokens);
        any saved change to those — from a service, the admin or a shell — drops the cache."""
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from integrations.models import SourceSystem, SystemSource, SystemToken
        from integrations.services.tokens import forget_system_tokens

        def forget(sender, instance, **kwargs) -> None:
            system_id = instance.pk if sender is SourceSystem else instance.system_id
            # Now, and again after commit: a request in between may have cached the old rows.
            forget_system_tokens(system_id=system_id)
            transaction.on_commit(lambda: forget_system_tokens(system_id=system_id))

        for model in (SourceSystem, SystemSource, SystemToken):
            post_save.connect(
                forget, sender=model, weak=False, dispatch_uid=f"forget-tokens-{model.__name__}"
            )
            post_delete.connect(
                forget, sender=model, weak=False, dispatch_uid=f"forget-tokens-{model.__name__}-del"
            )
