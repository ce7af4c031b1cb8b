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
