from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "controltower.health"
    label = "health"
    verbose_name = "Health"

    def ready(self) -> None:
        # Every process that loads Django makes our Celery app the current one, so that tasks
        # (@shared_task) are sent to our broker, with our queues and settings.
        import controltower.celery  # noqa: F401
