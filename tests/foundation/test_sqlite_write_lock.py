"""The embedded SQLite backend (homeconsent.dbbackends.sqlite3) waits for the write lock by trying
BEGIN IMMEDIATE again every few milliseconds: a second writer goes on once the first commits, and
still fails with "database is locked" when the lock is held past OPTIONS["timeout"]. Each thread
has its own connection, as under bin/serve."""

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lock_holder():
    """A thread whose connection holds the write lock until release is set."""
    if connection.vendor != "sqlite":
        pytest.skip("the embedded SQLite backend only")
    held, release, events = threading.Event(), threading.Event(), []

    def hold():
        try:
            with transaction.atomic():  # BEGIN IMMEDIATE: the write lock from here to COMMIT
                held.set()
                assert release.wait(30)
            events.append("first committed")
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(30)
    yield release, events
    release.set()
    thread.join(30)


def _in_thread(work) -> threading.Thread:
    def run():
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_waiting_writer_goes_on_once_the_lock_is_free(lock_holder):
    # given another connection holding the write lock, and a second writer about to begin
    release, events = lock_holder
    traced = []

    def write():
        connection.ensure_connection()
        connection.connection.set_trace_callback(traced.append)  # every statement SQLite starts
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM django_migrations")
        events.append("second committed")

    writer = _in_thread(write)

    # when the second has tried BEGIN IMMEDIATE again (not asleep in SQLite's busy handler), and
    # then the first commits
    deadline = time.monotonic() + 30
    while traced.count("BEGIN IMMEDIATE") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert traced.count("BEGIN IMMEDIATE") >= 2, traced
    release.set()
    writer.join(30)

    # then the second began after it, and did not fail
    assert events == ["first committed", "second committed"]


def test_a_lock_held_past_the_timeout_still_fails_as_locked(lock_holder):
    # given another connection holding the write lock, and a connection here with a 0.2 s timeout
    release, events = lock_holder
    failures = []

    def write():
        connection.close()
        connection.settings_dict = {
            **connection.settings_dict,
            "OPTIONS": {**connection.settings_dict["OPTIONS"], "timeout": 0.2},
        }
        try:
            with transaction.atomic():
                events.append("second committed")
        except OperationalError as exc:
            failures.append(str(exc))

    # when it tries to begin a write transaction meanwhile
    _in_thread(write).join(30)
    release.set()

    # then it failed as SQLite says it, and wrote nothing
    assert failures and "locked" in failures[0]
    assert "second committed" not in events
