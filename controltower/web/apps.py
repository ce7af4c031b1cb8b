from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "controltower.web"
    label = "web"
    verbose_name = "Web pages and live views"

    def ready(self) -> None:
        from controltower.changes import changed
        from controltower.web.live.bus import publish_changes

        # Every process that loads Django (web, worker, beat) publishes its committed changes.
        changed.connect(publish_changes, dispatch_uid="controltower.web.live.bus")
