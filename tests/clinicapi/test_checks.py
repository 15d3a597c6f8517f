"""The API's system checks, and production deriving the token URL so --deploy stays clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from clinicapi.checks import TOKEN_URL_UNSET, token_url_is_set

ROOT = Path(__file__).resolve().parents[2]


def test_an_unset_token_url_warns_outside_debug_for_a_public_host(settings):
    settings.DEBUG, settings.CLINICAPI_TOKEN_URL = False, ""
    settings.ALLOWED_HOSTS = ["hc.example"]
    assert [w.id for w in token_url_is_set(None)] == [TOKEN_URL_UNSET]
    # a local-only site (the demo, tests) takes its audience from localhost: nothing to warn about
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    assert token_url_is_set(None) == []
    settings.ALLOWED_HOSTS = ["hc.example"]

    settings.CLINICAPI_TOKEN_URL = "https://hc.example/api/v1/auth/token"
    assert token_url_is_set(None) == []
    settings.DEBUG, settings.CLINICAPI_TOKEN_URL = True, ""
    assert token_url_is_set(None) == []


def production_token_url(tmp_path, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HOMECONSENT_API_TOKEN_URL"))}
    env.update(
        {
            "HOMECONSENT_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "homeconsent.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "HOMECONSENT_PROXY_COUNT": "1",
            **env_extra,
        }
    )
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.CLINICAPI_TOKEN_URL)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_derives_the_token_url_from_the_first_allowed_host(tmp_path):
    derived = production_token_url(tmp_path, DJANGO_ALLOWED_HOSTS="hc.example,www.hc.example")
    given = production_token_url(
        tmp_path,
        DJANGO_ALLOWED_HOSTS="hc.example",
        HOMECONSENT_API_TOKEN_URL="https://api.hc.example/api/v1/auth/token",
    )
    pattern = production_token_url(tmp_path, DJANGO_ALLOWED_HOSTS=".hc.example")

    assert derived.stdout.strip() == "https://hc.example/api/v1/auth/token"
    assert given.stdout.strip() == "https://api.hc.example/api/v1/auth/token"
    assert pattern.returncode != 0 and "HOMECONSENT_API_TOKEN_URL" in pattern.stderr
