from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "integrations.delivery"
    label = "delivery"
    verbose_name = "Routing and delivery"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from integrations.delivery.models import Subscription, Target
        from integrations.delivery.services.routing import subscriptions_changed

        for model in (Subscription, Target):
            post_save.connect(
                subscriptions_changed, sender=model, dispatch_uid=f"routes-saved-{model.__name__}"
            )
            post_delete.connect(
                subscriptions_changed, sender=model, dispatch_uid=f"routes-deleted-{model.__name__}"
            )
        for through in (Subscription.plants.through, Subscription.suppliers.through):
            m2m_changed.connect(
                subscriptions_changed, sender=through, dispatch_uid=f"routes-m2m-{through.__name__}"
            )
