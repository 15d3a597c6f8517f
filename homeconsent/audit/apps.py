from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "homeconsent.audit"
    label = "audit"
    verbose_name = "Access log"
