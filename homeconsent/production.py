"""Production settings: the base settings, hardened. Refuses to start without a real secret, the
host names, or an explicit proxy count."""

from django.core.exceptions import ImproperlyConfigured

from .env import env
from .settings import *  # noqa: F401,F403

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters in production "
        "(for example: python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

DEBUG = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name the host names this service answers to.")

# The one audience of client assertions: never from a request's Host header in production. Unset, it
# is the token URL on the first allowed host (clinicapi.checks warns when it is empty).
CLINICAPI_TOKEN_URL = env.str("HOMECONSENT_API_TOKEN_URL", default="")
if not CLINICAPI_TOKEN_URL:
    if ALLOWED_HOSTS[0].startswith(".") or "*" in ALLOWED_HOSTS[0]:
        raise ImproperlyConfigured(
            "HOMECONSENT_API_TOKEN_URL must be set when the first of DJANGO_ALLOWED_HOSTS is a pattern "
            "(for example: https://homeconsent.example/api/v1/auth/token)."
        )
    CLINICAPI_TOKEN_URL = f"https://{ALLOWED_HOSTS[0]}/api/v1/auth/token"

# Production trusts a TLS-terminating proxy (below), so how many proxies append to X-Forwarded-For
# must be said, not assumed: with the default 0 behind a load balancer every per-address limit
# (card challenges, console sign-in, token URL) would count the balancer, one budget for everyone.
_proxy_count = env.str("HOMECONSENT_PROXY_COUNT", default="").strip()
if not _proxy_count.isdigit():
    raise ImproperlyConfigured(
        "HOMECONSENT_PROXY_COUNT must be set in production to the number of proxies in front that append "
        "to X-Forwarded-For (1 behind one load balancer; 0 only when clients connect directly)."
    )
CLIENT_IP_PROXY_COUNT = int(_proxy_count)

# Apps' return and webhook URLs: https to public addresses only, checked again on every send (SSRF).
CONSENT_APP_URLS_ALLOW_LOCAL = env.bool("HOMECONSENT_APP_URLS_ALLOW_LOCAL", default=False)

# The stand-in authentication app (manage.py authenticator_provider) is for the demo and tests only.
from homeconsent.authapp.issuers import is_standin  # noqa: E402

if AUTH_APP_ISSUER and is_standin(AUTH_APP_ISSUER):  # noqa: F405
    raise ImproperlyConfigured(
        "HOMECONSENT_AUTH_APP_ISSUER names the stand-in provider; set the Digital Agency's issuer or leave it empty."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# Static files are collected at deploy time; never serve from the finders or re-scan in production.
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
