"""Test settings: the real settings, with this run's state kept in a temporary folder."""

import os
import tempfile

os.environ.setdefault("HOMECONSENT_VAR_DIR", tempfile.mkdtemp(prefix="homeconsent-test-"))

from homeconsent.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
