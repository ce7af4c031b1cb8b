from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "controltower.audit"
    label = "audit"
    verbose_name = "Audit log"
