"""End-to-end business traces: events joined by business identifiers (reads integrations)."""

from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "controltower.traces"
    label = "traces"
    verbose_name = "Business traces"

    def ready(self) -> None:
        from controltower.traces.receivers import enqueue_correlation
        from integrations.signals import events_accepted

        events_accepted.connect(enqueue_correlation, weak=False, dispatch_uid="traces-enqueue-correlation")
