"""sqlrows.per_connection: what a back end's SQL text is built from is built once per database alias."""

import pytest
from django.db import connection
from django.db.utils import ConnectionHandler

from homeconsent.consent import services as consent_services
from homeconsent.sqlrows import per_connection


@pytest.fixture
def other_connections():
    """Another handler whose aliases name an SQLite database: "default" as if the tests had switched
    back end, and "other" beside it. Building SQL text opens no connection."""
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    handler = ConnectionHandler({"default": sqlite, "other": sqlite})
    yield handler
    handler.close_all()


@pytest.fixture
def counted_build():
    calls = []

    @per_connection
    def build(conn, *args):
        calls.append((conn.alias, *args))
        return f"{conn.vendor} {args}"

    return build, calls


def test_built_once_per_alias_and_arguments(counted_build, other_connections):
    build, calls = counted_build
    other = other_connections["other"]

    texts = [build(connection), build(connection), build(other), build(connection, 1), build(connection, 1)]

    here = connection.vendor
    assert texts == [f"{here} ()", f"{here} ()", "sqlite ()", f"{here} (1,)", f"{here} (1,)"]
    assert calls == [("default",), ("other",), ("default", 1)]


def test_forget_builds_again_for_the_back_end_the_alias_now_names(counted_build, other_connections):
    build, calls = counted_build
    switched = other_connections["default"]
    build(connection)

    kept = build(switched)  # same alias: what was built for the first back end
    build.forget()
    rebuilt = build(switched)

    assert kept == f"{connection.vendor} ()" and rebuilt == "sqlite ()"
    assert calls == [("default",), ("default",)]


def test_a_module_statement_is_the_one_built_for_its_back_end(other_connections):
    switched = other_connections["default"]
    consent_services._register_sql.forget()
    try:
        built = consent_services._register_sql(switched)
        assert built is consent_services._register_sql(switched)
        assert "FOR UPDATE" not in built.lock_person  # SQLite has no row locks
    finally:
        consent_services._register_sql.forget()  # the next test builds for its own back end
