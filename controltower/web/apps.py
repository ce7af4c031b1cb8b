from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "controltower.web"
    label = "web"
    verbose_name = "Web pages and live views"
