"""Test settings: the real settings, with this run's state kept in a temporary folder."""

import os
import tempfile

os.environ.setdefault("HOMECONSENT_VAR_DIR", tempfile.mkdtemp(prefix="homeconsent-test-"))
# Parallel workers (pytest-xdist) inherit the controller's folder: each keeps its state (card files, the
# test PKI, the demo's client) in a folder of its own, and so do the processes it starts.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and os.path.basename(os.environ["HOMECONSENT_VAR_DIR"].rstrip("/")) != _worker:
    os.environ["HOMECONSENT_VAR_DIR"] = os.path.join(os.environ["HOMECONSENT_VAR_DIR"], _worker)
    os.makedirs(os.environ["HOMECONSENT_VAR_DIR"], exist_ok=True)
    os.environ.pop("HOMECONSENT_TEST_SQLITE_PATH", None)
# SQLite's default test database is shared-cache memory, where a second connection (a live server,
# a webhook thread) fails with "table is locked" instead of waiting. A WAL file behaves like the
# embedded deployment: every thread its own connection, writers queue on the busy timeout.
os.environ.setdefault(
    "HOMECONSENT_TEST_SQLITE_PATH", os.path.join(os.environ["HOMECONSENT_VAR_DIR"], "test.sqlite3")
)

from homeconsent.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# With REDIS_URL (the production back-end pass), parallel workers must not share what a test clears:
# Django's RedisCache.clear() flushes its whole database, so each worker gets a database of its own,
# and the channel layer's keys carry the worker's prefix and short expiries. tests/conftest.py removes
# both when the run ends, so nothing outlives it.
if REDIS_URL:  # noqa: F405
    _worker = int((os.environ.get("PYTEST_XDIST_WORKER") or "gw0").removeprefix("gw") or 0)
    _base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL  # noqa: F405
    TEST_REDIS_CACHE_URL = f"{_base}/{8 + _worker % 8}"
    TEST_REDIS_CHANNEL_PREFIX = f"hc-test-run-{_worker}-{os.getpid()}"
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_CACHE_URL,
        }
    }
    CHANNEL_LAYERS["default"]["CONFIG"].update(  # noqa: F405
        {"prefix": TEST_REDIS_CHANNEL_PREFIX, "group_expiry": 120, "expiry": 30}
    )
