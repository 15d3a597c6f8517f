"""Settings for bench/clinic_api.py's server: the real settings, with one bare DRF endpoint added
by clinic_api_urls (GET /bench/bare).

With PostgreSQL and HOMECONSENT_BENCH_DB_POOL=1, connections come from a psycopg pool (Django's
OPTIONS["pool"]): under ASGI Django runs each request's sync code in a fresh thread, so without a
pool every request opens a new PostgreSQL connection (a new server process).
"""

import os

from homeconsent.settings import *  # noqa: F401,F403
from homeconsent.settings import DATABASES

ROOT_URLCONF = "clinic_api_urls"

if (
    DATABASES["default"]["ENGINE"].endswith("postgresql")
    and os.environ.get("HOMECONSENT_BENCH_DB_POOL") == "1"
):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 16, "timeout": 10}
