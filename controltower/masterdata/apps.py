from django.apps import AppConfig


class MasterdataConfig(AppConfig):
    name = "controltower.masterdata"
    label = "masterdata"
    verbose_name = "Master data"
