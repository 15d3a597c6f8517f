from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff accounts of institutions: enrolment, password + TOTP sign-in, lockout. Used by the
    institution console (clinicapi.console) and the operator admin alike."""

    name = "homeconsent.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "職員アカウント"
