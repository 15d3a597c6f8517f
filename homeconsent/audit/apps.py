from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "homeconsent.audit"
    label = "audit"
    verbose_name = "Access log"

    def ready(self):
        # Every migrate (a deploy) also tops up the month partitions ahead (PostgreSQL), beside the cron.
        post_migrate.connect(_ensure_partitions, sender=self)


def _ensure_partitions(using="default", **kwargs):
    from .partitions import ensure_partitions

    ensure_partitions(using=using)
