from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The institution console: staff accounts, entry URL card, consented patients, live board, API clients."""

    name = "clinicapi.console"
    label = "console"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "医療機関等コンソール"
