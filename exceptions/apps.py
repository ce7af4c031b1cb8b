"""Exception queues: cases opened from every failure, owned, worked and closed by handlers."""

from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "exceptions"
    label = "exceptions"
    verbose_name = "Exception queues"

    def ready(self) -> None:
        # Intake, traces and delivery only announce; this app listens (they never import it).
        from controltower.changes import changed
        from exceptions.receivers import cases_follow_changes

        changed.connect(cases_follow_changes, weak=False, dispatch_uid="exceptions-follow-changes")

        # Rules and handling times are kept per process (routing_table): a change drops them.
        from django.db.models.signals import post_delete, post_save

        from exceptions.models import RoutingRule, SlaPolicy, Team
        from exceptions.services.routing_table import routing_changed

        for model in (RoutingRule, SlaPolicy, Team):
            post_save.connect(routing_changed, sender=model, dispatch_uid=f"routing-saved-{model.__name__}")
            post_delete.connect(
                routing_changed, sender=model, dispatch_uid=f"routing-deleted-{model.__name__}"
            )
