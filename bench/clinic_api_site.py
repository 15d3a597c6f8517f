"""Settings for bench/clinic_api.py's server: the real settings, with one bare DRF endpoint added
by clinic_api_urls (GET /bench/bare)."""

from homeconsent.settings import *  # noqa: F401,F403

ROOT_URLCONF = "clinic_api_urls"
