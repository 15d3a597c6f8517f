"""Settings for HomeConsent, read from the environment (homeconsent/env.py: a bad value stops the start,
naming its variable).

The defaults are the embedded set-up: SQLite in WAL mode and the in-memory channel layer, so a fresh
machine runs the service with nothing else. DATABASE_URL and REDIS_URL switch to PostgreSQL and the
Redis channel layer. homeconsent.production hardens these for deployment.

Every domain setting (card path, consent, audit) has its default here and nowhere else.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from homeconsent.env import env

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of this checkout: SQLite database, dev secret, test PKI, virtual cards, checkpoints.
VAR_DIR = Path(env.str("HOMECONSENT_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _dev_secret_key():
    """A development secret generated once per checkout, kept in var/ (never committed)."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=None) or _dev_secret_key()
# Off unless asked for: a forgotten setting must not show tracebacks to patients.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# A refused form gets the site's coded page with a way back, not Django's technical one.
CSRF_FAILURE_VIEW = "homeconsent.views.csrf_failure"

INSTALLED_APPS = [
    "daphne",
    # django.contrib.admin, its site needing a verified TOTP device (homeconsent/admin_site.py)
    "homeconsent.admin_apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "channels",
    "homeconsent",  # the site itself: the demo command
    "homeconsent.registry",
    "homeconsent.audit",
    "homeconsent.jpki",
    "homeconsent.consent",
    "homeconsent.accounts",
    "homeconsent.special_access",
    "homeconsent.usage",
    "homeconsent.notices",
    "homeconsent.authapp",
    "portal",
    "clinicapi",
    "clinicapi.console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "homeconsent.csp.DefaultPolicyMiddleware",
    "clinicapi.middleware.ApiGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "homeconsent.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "homeconsent.context_processors.display",
            ],
        },
    },
]

WSGI_APPLICATION = "homeconsent.wsgi.application"
ASGI_APPLICATION = "homeconsent.asgi.application"

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default=None)
# Seconds a connection is kept between requests (0: closed after each). Set by bin/serve, whose HTTP
# threads live as long as the worker (homeconsent.serving); not under Django's ASGI handler, which
# runs each request in a new thread and would leave one connection behind per request.
_CONN_MAX_AGE = env.int("HOMECONSENT_DB_CONN_MAX_AGE", default=0)
if DATABASE_URL:
    # Under ASGI a persistent connection per thread leaks; pool instead (psycopg's pool) when asked.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=_CONN_MAX_AGE)}
    # psycopg prepares a statement the code asks it to (clinicapi.fastcheck's one call), or any statement
    # after this many runs on a connection with server-side binding; Django's default None never does.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = env.int(
        "HOMECONSENT_DB_PREPARE_THRESHOLD", default=5
    )
    if env.bool("HOMECONSENT_DB_POOL", default=False):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("HOMECONSENT_DB_POOL_MIN", default=2),
            "max_size": env.int("HOMECONSENT_DB_POOL_MAX", default=10),
        }
else:
    DATABASES = {
        "default": {
            # Django's backend with a prompter wait for the write lock (homeconsent/dbbackends/sqlite3).
            "ENGINE": "homeconsent.dbbackends.sqlite3",
            "NAME": env.str("HOMECONSENT_SQLITE_PATH", default=str(VAR_DIR / "homeconsent.sqlite3")),
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on the busy
            # timeout instead of failing mid-transaction; WAL lets readers run beside them.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            },
            "TEST": {"NAME": env.str("HOMECONSENT_TEST_SQLITE_PATH", default=None) or None},
            "CONN_MAX_AGE": _CONN_MAX_AGE,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- channels -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default=None)
# redis-py 8 reads with a 5 s socket timeout by default, exactly channels_redis's 5 s blocking receive
# (BZPOPMIN): a socket without messages for 5 s then fails its read and its consumer crashes. The
# read gets more room than the blocking receive.
CHANNEL_REDIS_HOST_OPTIONS = {"socket_timeout": 30}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, **CHANNEL_REDIS_HOST_OPTIONS}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# The cache holds throttle counters: shared through Redis when there are several workers.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
OTP_TOTP_ISSUER = "HomeConsent"
SESSION_COOKIE_AGE = env.int("HOMECONSENT_SESSION_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True

# --- language, time -------------------------------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates and times look the same on every page, per language (homeconsent/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["homeconsent.formats"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# --- static ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("HOMECONSENT_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Without collectstatic (the demo, tests) whitenoise serves straight from the finders; production
# serves the collected, hashed files only (homeconsent.production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "clinicapi.schema.ApiAutoSchema",
    # Coded JSON refusals for every API of the site (the institutions' and the telehealth apps').
    "EXCEPTION_HANDLER": "clinicapi.errors.api_exception_handler",
}
# The published OpenAPI schema of the institutions' API (clinicapi/schema.py); docs assets served locally.
SPECTACULAR_SETTINGS = {
    "TITLE": "HomeConsent institutions' API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["clinicapi.schema.keep_api_paths"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "clinicapi.schema.describe_api",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No online validator badge: the docs page makes no request outside this site.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- logging: the PIN never reaches the server, and nothing here logs request bodies --------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Enrolment tokens and telehealth session ids in URL paths never reach a log (homeconsent.logredact).
    "filters": {"redact": {"()": "homeconsent.logredact.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.str("HOMECONSENT_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        **{name: {"filters": ["redact"]} for name in ("django.request", "django.server", "uvicorn.access")},
    },
}

# --- the card path (homeconsent.jpki) -------------------------------------------------------
# Test PKI of this checkout: root certificate and key, CRL, issued certificates.
JPKI_PKI_DIR = Path(env.str("HOMECONSENT_PKI_DIR", default=str(VAR_DIR / "pki")))
# Trusted user-authentication roots (PEM or DER files); default: the test PKI's root.
JPKI_TRUST_ROOTS = [
    Path(p) for p in env.list("HOMECONSENT_JPKI_ROOTS", default=[str(JPKI_PKI_DIR / "root.pem")])
]
# CRLs consulted on every verification (PEM or DER files); default: the test PKI's CRL.
JPKI_CRLS = [Path(p) for p in env.list("HOMECONSENT_JPKI_CRLS", default=[str(JPKI_PKI_DIR / "crl.pem")])]
# Virtual card files (keys, certificate, PIN, retry counter).
JPKI_CARDS_DIR = Path(env.str("HOMECONSENT_CARDS_DIR", default=str(VAR_DIR / "cards")))
# A card-auth challenge is answered within this time or not at all.
CARD_AUTH_CHALLENGE_TTL = timedelta(seconds=env.int("HOMECONSENT_CHALLENGE_SECONDS", default=300))
# Challenges the public pages (consent pages, portal) issue, per window and client IP / entry
# token / browser session (0: no limit); past a limit they answer 429 challenge_rate_limited.
CHALLENGE_RATE_WINDOW = timedelta(seconds=env.int("HOMECONSENT_CHALLENGE_RATE_WINDOW_SECONDS", default=600))
CHALLENGE_RATE_LIMITS = {
    "ip": env.int("HOMECONSENT_CHALLENGE_RATE_PER_IP", default=60),
    "entry": env.int("HOMECONSENT_CHALLENGE_RATE_PER_ENTRY", default=600),
    "session": env.int("HOMECONSENT_CHALLENGE_RATE_PER_SESSION", default=20),
}
# Consent flows started on the consent pages (始める writes a draft), per the same window and client IP /
# entry token / browser session (0: no limit); past a limit they answer 429 consent_start_rate_limited.
CONSENT_START_RATE_LIMITS = {
    "ip": env.int("HOMECONSENT_START_RATE_PER_IP", default=60),
    "entry": env.int("HOMECONSENT_START_RATE_PER_ENTRY", default=600),
    "session": env.int("HOMECONSENT_START_RATE_PER_SESSION", default=20),
}
# Proxies in front that append to X-Forwarded-For (1 behind one load balancer): the client IP is
# the address the outermost of them saw. 0: REMOTE_ADDR.
CLIENT_IP_PROXY_COUNT = env.int("HOMECONSENT_PROXY_COUNT", default=0)

# --- emergency viewing and disaster mode (homeconsent.special_access) --------------------------
# How long a found patient stays viewable for that viewer (the encounter), and the search brakes:
# searches per window by one staff member (or API client) and by one institution.
SPECIAL_ACCESS_ENCOUNTER = timedelta(
    seconds=env.int("HOMECONSENT_SPECIAL_ACCESS_ENCOUNTER_SECONDS", default=4 * 3600)
)
SPECIAL_ACCESS_SEARCH_WINDOW = timedelta(
    seconds=env.int("HOMECONSENT_SPECIAL_ACCESS_WINDOW_SECONDS", default=3600)
)
SPECIAL_ACCESS_SEARCH_LIMITS = {
    "actor": env.int("HOMECONSENT_SPECIAL_ACCESS_SEARCHES_PER_ACTOR", default=20),
    "institution": env.int("HOMECONSENT_SPECIAL_ACCESS_SEARCHES_PER_INSTITUTION", default=200),
}

# --- the paper eligibility certificate (資格確認書) path (homeconsent.registry.paper_certificate) --
# Checks by the printed keys per window, by one staff member (or API client) and by one institution:
# a brake on trying keys, generous enough for a reception desk where most patients bring paper.
PAPER_CERTIFICATE_CHECK_WINDOW = timedelta(
    seconds=env.int("HOMECONSENT_PAPER_CERTIFICATE_WINDOW_SECONDS", default=3600)
)
PAPER_CERTIFICATE_CHECK_LIMITS = {
    "actor": env.int("HOMECONSENT_PAPER_CERTIFICATE_CHECKS_PER_ACTOR", default=300),
    "institution": env.int("HOMECONSENT_PAPER_CERTIFICATE_CHECKS_PER_INSTITUTION", default=3000),
}

# --- consent: telehealth-app sessions and webhooks (homeconsent.consent) --------------------
# A consent session opened by a telehealth app waits this long for the patient.
CONSENT_SESSION_TTL = timedelta(seconds=env.int("HOMECONSENT_CONSENT_SESSION_SECONDS", default=3600))
# Webhooks: per-request timeout, attempts before giving up (backoff doubles from 30 s, capped at
# 6 h), and the in-process attempt after commit: "thread" (default), "sync" (tests) or "off".
CONSENT_WEBHOOK_TIMEOUT = env.float("HOMECONSENT_WEBHOOK_TIMEOUT_SECONDS", default=5)
CONSENT_WEBHOOK_MAX_ATTEMPTS = env.int("HOMECONSENT_WEBHOOK_MAX_ATTEMPTS", default=10)
# Telehealth apps' return and webhook URLs may point at localhost / private addresses (test
# receivers on 127.0.0.1). On here; production turns it off (homeconsent.consent.outbound).
CONSENT_APP_URLS_ALLOW_LOCAL = env.bool("HOMECONSENT_APP_URLS_ALLOW_LOCAL", default=True)
CONSENT_WEBHOOK_INLINE = env.str("HOMECONSENT_WEBHOOK_INLINE", default="thread")
# The patient portal signs a person out after this long without a request.
PORTAL_SESSION_IDLE = timedelta(seconds=env.int("HOMECONSENT_PORTAL_IDLE_SECONDS", default=15 * 60))
# The reader bridge: where pages reach it, and which page origins it serves.
READER_BRIDGE_HOST = "127.0.0.1"
READER_BRIDGE_PORT = env.int("HOMECONSENT_BRIDGE_PORT", default=47110)
READER_BRIDGE_ALLOWED_ORIGINS = env.list(
    "HOMECONSENT_BRIDGE_ORIGINS", default=["http://localhost:8000", "http://127.0.0.1:8000"]
)

# --- the phone route: an OpenID Connect authentication app (homeconsent.authapp) -----------
# The provider's issuer; empty: the app route is off (pages offer the card reader only). The
# stand-in (manage.py authenticator_provider) is for the demo and tests; production refuses it.
AUTH_APP_ISSUER = env.str("HOMECONSENT_AUTH_APP_ISSUER", default="")
AUTH_APP_CLIENT_ID = env.str("HOMECONSENT_AUTH_APP_CLIENT_ID", default="homeconsent")
# Where the provider sends the patient back; empty: this site's /consent/app/callback.
AUTH_APP_REDIRECT_URI = env.str("HOMECONSENT_AUTH_APP_REDIRECT_URI", default="")
# This service's public keys (private_key_jwt), as the provider fetches them.
AUTH_APP_CLIENT_JWKS_URI = env.str("HOMECONSENT_AUTH_APP_CLIENT_JWKS_URI", default="")
AUTH_APP_CLIENT_KEY_FILE = Path(
    env.str("HOMECONSENT_AUTH_APP_CLIENT_KEY", default=str(VAR_DIR / "authapp-client-key.pem"))
)
# ID-token algorithms accepted (ES256 is what the provider uses; add RS256 only if it is configured).
AUTH_APP_ID_TOKEN_ALGORITHMS = env.list("HOMECONSENT_AUTH_APP_ID_TOKEN_ALGORITHMS", default=["ES256"])
# How long the provider's discovery document and JWKS are reused before being fetched again, seconds.
AUTH_APP_METADATA_TTL = env.int("HOMECONSENT_AUTH_APP_METADATA_TTL", default=3600)

# --- audit ----------------------------------------------------------------------------------
# Independent hash chains, chosen by person, so appends are not one serial point.
AUDIT_CHAINS = env.int("HOMECONSENT_AUDIT_CHAINS", default=16)
AUDIT_CHECKPOINT_DIR = Path(
    env.str("HOMECONSENT_AUDIT_CHECKPOINT_DIR", default=str(VAR_DIR / "audit-checkpoints"))
)
AUDIT_SIGNING_KEY_PATH = Path(
    env.str("HOMECONSENT_AUDIT_SIGNING_KEY", default=str(VAR_DIR / "audit-signing-key.pem"))
)
# PostgreSQL keeps the log in one partition per month (Japan time); manage.py partition_access_log
# creates this many months ahead, seals ended months and, with --expire, drops expired ones.
AUDIT_PARTITION_MONTHS_AHEAD = env.int("HOMECONSENT_AUDIT_PARTITION_MONTHS_AHEAD", default=3)
# Full years a month of the log is kept after it ends (docs/audit.md, "Retention"): as long as the
# longest look-back of the information the service provides (specific health checkups, five years).
AUDIT_RETENTION_YEARS = env.int("HOMECONSENT_AUDIT_RETENTION_YEARS", default=5)

# --- the institutions' API (clinicapi) ------------------------------------------------------
# The absolute token URL client assertions must name as aud; empty: built from the request
# (scheme and Host as Django sees them). Set it in production so aud never depends on a header.
CLINICAPI_TOKEN_URL = env.str("HOMECONSENT_API_TOKEN_URL", default="")
CLINICAPI_ACCESS_TOKEN_TTL = timedelta(seconds=env.int("HOMECONSENT_API_TOKEN_SECONDS", default=300))
# A client assertion's exp may lie at most this far ahead (SMART Backend Services: 5 minutes).
CLINICAPI_ASSERTION_MAX_LIFETIME = timedelta(minutes=5)
# Clock skew tolerated on exp, iat and nbf.
CLINICAPI_CLOCK_LEEWAY = timedelta(seconds=env.int("HOMECONSENT_API_CLOCK_LEEWAY_SECONDS", default=60))
# DRF rates: "client" per API client on the protected endpoints, "token" per address on the token URL.
# On PostgreSQL a plain eligibility check and a plain medication read each run as one database call
# (clinicapi.fastcheck, clinicapi.fastmedication); off, both take the general DRF path (as on SQLite).
CLINICAPI_FAST_CHECK = env.bool("HOMECONSENT_API_FAST_CHECK", default=True)
# The batch pre-check's fast path on PostgreSQL (clinicapi.fastbatch); off, every batch takes the
# general path (as on SQLite).
CLINICAPI_BATCH_FAST = env.bool("HOMECONSENT_API_BATCH_FAST", default=True)
# The check's route on the event loop under bin/serve (clinicapi.fastroute), and its connections
# per worker process. On: it halves the serving CPU per check and, measured alternately on a quiet
# machine, served 1.6 times the checks of Django's thread pool (bench/README.md); only on a machine
# overloaded many times over did it lose. Off, checks go through Django (still one database call).
CLINICAPI_FAST_ROUTE = env.bool("HOMECONSENT_API_FAST_ROUTE", default=True)
CLINICAPI_FAST_POOL = env.int("HOMECONSENT_API_FAST_POOL", default=8)
CLINICAPI_THROTTLE_RATES = {
    "client": env.str("HOMECONSENT_API_RATE", default="600/min"),
    "token": env.str("HOMECONSENT_API_TOKEN_RATE", default="60/min"),
}
# Requests per telehealth app to its API (/consent/api/v1/), over which it answers 429 with Retry-After.
TELEHEALTH_APP_RATE = env.str("HOMECONSENT_APP_API_RATE", default="300/min")
# Largest request body accepted under /api/ (by Content-Length); larger answers 413.
CLINICAPI_MAX_BODY_BYTES = env.int("HOMECONSENT_API_MAX_BODY_BYTES", default=1024 * 1024)
# The batch pre-check (一括照会) takes up to 10,000 entries in one body: its own, larger limit.
CLINICAPI_BATCH_MAX_BODY_BYTES = env.int("HOMECONSENT_API_BATCH_MAX_BODY_BYTES", default=8 * 1024 * 1024)
CLINICAPI_BATCH_MAX_ENTRIES = 10_000
# Key of the opaque per-institution patient ids (clinicapi/patients.py). Keep it stable: changing it
# changes every patient id institutions have stored. Empty: derived from SECRET_KEY.
CLINICAPI_PATIENT_ID_KEY = env.str("HOMECONSENT_API_PATIENT_ID_KEY", default="")

# --- the institution console (clinicapi.console) --------------------------------------------
# Staff are signed out after this long without a request (pages and live-board sockets alike).
CONSOLE_SESSION_IDLE = timedelta(seconds=env.int("HOMECONSENT_CONSOLE_IDLE_SECONDS", default=30 * 60))
# This many failed sign-ins (password or TOTP code) in a row lock the account for CONSOLE_LOCKOUT.
CONSOLE_LOCKOUT_FAILURES = env.int("HOMECONSENT_CONSOLE_LOCKOUT_FAILURES", default=5)
CONSOLE_LOCKOUT = timedelta(seconds=env.int("HOMECONSENT_CONSOLE_LOCKOUT_SECONDS", default=15 * 60))
# Before the per-account lockout: sign-in attempts (POSTs to /console/signin*) per client address and
# in all, per window (0: no limit); past a limit they answer 429 console_signin_rate_limited.
CONSOLE_SIGNIN_RATE_WINDOW = timedelta(
    seconds=env.int("HOMECONSENT_CONSOLE_SIGNIN_RATE_WINDOW_SECONDS", default=300)
)
CONSOLE_SIGNIN_RATE_LIMITS = {
    "ip": env.int("HOMECONSENT_CONSOLE_SIGNIN_RATE_PER_IP", default=30),
    "global": env.int("HOMECONSENT_CONSOLE_SIGNIN_RATE_GLOBAL", default=1000),
}
# A one-time enrolment link (new staff account: password and TOTP) is valid this long.
CONSOLE_ENROLMENT_TTL = timedelta(hours=env.int("HOMECONSENT_CONSOLE_ENROLMENT_HOURS", default=72))
# django-otp's own per-device throttle is off: the console's per-account lockout above counts
# password and code failures together, and one mechanism gives one clear message.
OTP_TOTP_THROTTLE_FACTOR = 0
