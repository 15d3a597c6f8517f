from django.apps import AppConfig


class AuthAppConfig(AppConfig):
    """The phone route: proving card + PIN through an OpenID Connect authentication app."""

    name = "homeconsent.authapp"
    label = "authapp"
    verbose_name = "認証アプリ"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy check)
