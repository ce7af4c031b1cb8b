from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "controltower.health"
    label = "health"
    verbose_name = "Health"
