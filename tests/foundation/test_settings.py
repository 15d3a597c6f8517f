"""Settings come from the environment; production refuses to start without a real secret."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def run_python(code, env_extra, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "HOMECONSENT_PROXY_COUNT"))
    }
    env.update({"HOMECONSENT_VAR_DIR": str(tmp_path / "var"), **env_extra})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def run_manage(args, env_extra, tmp_path):
    return run_python(
        "import sys; from django.core.management import execute_from_command_line; "
        f"execute_from_command_line(['manage.py', *{args!r}])",
        env_extra,
        tmp_path,
    )


@pytest.mark.django_db
def test_embedded_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("embedded default only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        busy_timeout_ms = cursor.fetchone()[0]
    assert busy_timeout_ms >= 5000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in connection.settings_dict["OPTIONS"]["init_command"]


def test_sqlite_file_database_is_put_in_wal_mode(tmp_path):
    # given the embedded default settings and a fresh state folder
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='homeconsent.settings'; django.setup();"
        "from django.db import connection; c=connection.cursor(); c.execute('PRAGMA journal_mode');"
        "print(c.fetchone()[0])"
    )
    # when a connection opens
    result = run_python(code, {}, tmp_path)
    # then the database file runs in WAL mode
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wal"


def test_database_and_channel_layer_follow_the_environment(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='homeconsent.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE']); print(s.DATABASES['default']['NAME']);"
        "print(s.CHANNEL_LAYERS['default']['BACKEND']); print(s.CACHES['default']['BACKEND'])"
    )
    embedded = run_python(code, {}, tmp_path).stdout.split()
    assert embedded[0] == "homeconsent.dbbackends.sqlite3"  # Django's, with a prompter write-lock wait
    assert embedded[2] == "channels.layers.InMemoryChannelLayer"
    assert embedded[3] == "django.core.cache.backends.locmem.LocMemCache"

    production = run_python(
        code,
        {"DATABASE_URL": "postgres://u@db.example:5432/hc", "REDIS_URL": "redis://cache.example:6379/0"},
        tmp_path,
    ).stdout.split()
    assert production == [
        "django.db.backends.postgresql",
        "hc",
        "channels_redis.core.RedisChannelLayer",
        "django.core.cache.backends.redis.RedisCache",
    ]


def test_development_secret_is_generated_once_per_checkout_and_ignored_by_git(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='homeconsent.settings'; django.setup();"
        "from django.conf import settings; print(settings.SECRET_KEY)"
    )
    first = run_python(code, {}, tmp_path).stdout.strip()
    second = run_python(code, {}, tmp_path).stdout.strip()
    assert len(first) >= 50 and first == second
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=ROOT)
    assert ignored.returncode == 0


@pytest.mark.parametrize("secret", [None, "", "short", "django-insecure-" + "x" * 60])
def test_production_refuses_to_start_without_a_real_secret(tmp_path, secret):
    env = {"DJANGO_SETTINGS_MODULE": "homeconsent.production", "DJANGO_ALLOWED_HOSTS": "hc.example"}
    if secret is not None:
        env["DJANGO_SECRET_KEY"] = secret
    result = run_manage(["check"], env, tmp_path)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.parametrize("count", [None, "", "one", "-1"])
def test_production_refuses_to_start_without_an_explicit_proxy_count(tmp_path, count):
    # given production settings complete but for how many proxies are in front
    env = {
        "DJANGO_SETTINGS_MODULE": "homeconsent.production",
        "DJANGO_ALLOWED_HOSTS": "hc.example",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    }
    if count is not None:
        env["HOMECONSENT_PROXY_COUNT"] = count
    # when it starts
    result = run_manage(["check"], env, tmp_path)
    # then it refuses and names the variable
    assert result.returncode != 0
    assert "HOMECONSENT_PROXY_COUNT" in result.stderr


@pytest.mark.parametrize("count", ["0", "2"])
def test_production_takes_an_explicit_proxy_count_including_zero(tmp_path, count):
    code = (
        "import django; django.setup(); from django.conf import settings as s; print(s.CLIENT_IP_PROXY_COUNT)"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "homeconsent.production",
        "DJANGO_ALLOWED_HOSTS": "hc.example",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "HOMECONSENT_PROXY_COUNT": count,
    }
    result = run_python(code, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == count


def test_production_settings_pass_the_deployment_checks_without_warnings(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "homeconsent.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "hc.example",
        "HOMECONSENT_PROXY_COUNT": "1",
    }
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_never_serves_static_files_from_the_finders_and_pools_on_request(tmp_path):
    code = (
        "import django, os; django.setup(); from django.conf import settings as s;"
        "print(s.WHITENOISE_USE_FINDERS, s.WHITENOISE_AUTOREFRESH, s.DEBUG);"
        "print(s.DATABASES['default']['CONN_MAX_AGE'], s.DATABASES['default'].get('OPTIONS', {}).get('pool'))"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "homeconsent.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "hc.example",
        "HOMECONSENT_PROXY_COUNT": "1",
        "DATABASE_URL": "postgres://u@db.example:5432/hc",
    }
    plain = run_python(code, env, tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split() == ["False", "False", "False", "0", "None"]

    pooled = run_python(code, {**env, "HOMECONSENT_DB_POOL": "1", "HOMECONSENT_DB_POOL_MAX": "20"}, tmp_path)
    assert "'max_size': 20" in pooled.stdout


@pytest.mark.parametrize(
    "name,value",
    [
        ("HOMECONSENT_AUDIT_CHAINS", "sixteen"),
        ("HOMECONSENT_WEBHOOK_TIMEOUT_SECONDS", "5s"),
        ("DJANGO_DEBUG", "maybe"),
    ],
)
def test_a_bad_value_stops_the_start_and_names_its_variable(tmp_path, name, value):
    # given a typo in one setting of the environment
    env = {"DJANGO_SETTINGS_MODULE": "homeconsent.settings", name: value}
    # when the site starts
    result = run_manage(["check"], env, tmp_path)
    # then it refuses, saying which variable and what it holds
    assert result.returncode != 0
    assert f"{name}={value!r}" in result.stderr


def test_list_settings_are_comma_separated_and_stripped(tmp_path):
    code = "import django; django.setup(); from django.conf import settings as s; print('|'.join(s.ALLOWED_HOSTS))"
    result = run_python(
        code,
        {
            "DJANGO_SETTINGS_MODULE": "homeconsent.settings",
            "DJANGO_ALLOWED_HOSTS": " a.example , b.example,,",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "a.example|b.example"


def test_parallel_workers_keep_their_state_in_folders_of_their_own(settings):
    # Given this run's settings (under pytest-xdist each worker imports them with its own name)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    # Then a worker's state folder, and so its card files and the demo's client, is its own
    if worker:
        assert settings.VAR_DIR.name == worker
        assert os.environ["HOMECONSENT_VAR_DIR"] == str(settings.VAR_DIR)
    else:
        assert settings.VAR_DIR.exists()
