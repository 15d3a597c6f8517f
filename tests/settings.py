"""Test settings: the real settings, with this run's state kept in a temporary folder."""

import os
import tempfile

os.environ.setdefault("HOMECONSENT_VAR_DIR", tempfile.mkdtemp(prefix="homeconsent-test-"))
# SQLite's default test database is shared-cache memory, where a second connection (a live server,
# a webhook thread) fails with "table is locked" instead of waiting. A WAL file behaves like the
# embedded deployment: every thread its own connection, writers queue on the busy timeout.
os.environ.setdefault(
    "HOMECONSENT_TEST_SQLITE_PATH", os.path.join(os.environ["HOMECONSENT_VAR_DIR"], "test.sqlite3")
)

from homeconsent.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
