from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "homeconsent.audit"
    label = "audit"
    verbose_name = "Access log"

    def ready(self):
        # Every migrate (a deploy) also tops up the month partitions ahead (PostgreSQL), beside the cron,
        # and installs the bulk append's function matching the models (audit.sqlappend).
        post_migrate.connect(_after_migrate, sender=self)


def _after_migrate(using="default", **kwargs):
    from .partitions import ensure_partitions
    from .sqlappend import APPEND

    ensure_partitions(using=using)
    APPEND.install_after_migrate(using)
