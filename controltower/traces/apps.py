"""End-to-end business traces: events joined by business identifiers (reads integrations)."""

from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "controltower.traces"
    label = "traces"
    verbose_name = "Business traces"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save, pre_save

        from controltower.changes import changed
        from controltower.traces.models import IdentifierRule
        from controltower.traces.receivers import (
            announce_traces_of_deliveries,
            enqueue_correlation,
            enqueue_rekey,
            remember_rule_scope,
        )
        from integrations.signals import events_accepted

        events_accepted.connect(enqueue_correlation, weak=False, dispatch_uid="traces-enqueue-correlation")
        pre_save.connect(remember_rule_scope, sender=IdentifierRule, dispatch_uid="traces-rule-before")
        post_save.connect(enqueue_rekey, sender=IdentifierRule, dispatch_uid="traces-rule-saved")
        post_delete.connect(enqueue_rekey, sender=IdentifierRule, dispatch_uid="traces-rule-deleted")
        changed.connect(announce_traces_of_deliveries, dispatch_uid="traces-deliveries-changed")
