"""System checks of the institutions' API settings (run by `manage.py check`, and --deploy)."""

from django.conf import settings
from django.core.checks import Warning, register

TOKEN_URL_UNSET = "clinicapi.W001"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "testserver"}


@register()
def token_url_is_set(app_configs, **kwargs):
    """Without CLINICAPI_TOKEN_URL the assertion audience is built from the request's Host header:
    fine for development, not for a deployment (homeconsent.production always sets it)."""
    # Only a site reachable under other host names needs a fixed audience (the demo and tests are local).
    if settings.DEBUG or settings.CLINICAPI_TOKEN_URL or set(settings.ALLOWED_HOSTS) <= LOCAL_HOSTS:
        return []
    return [
        Warning(
            "CLINICAPI_TOKEN_URL is not set while DEBUG is False: the token endpoint's audience comes "
            "from the request's Host header.",
            hint="Set HOMECONSENT_API_TOKEN_URL to https://<host>/api/v1/auth/token.",
            id=TOKEN_URL_UNSET,
        )
    ]
