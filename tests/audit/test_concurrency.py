"""Concurrent writers never fork a chain: every chain stays 1..n, each row linked to the one before."""

import threading

import pytest
from django.db import connection, connections, transaction

from homeconsent.audit.models import AccessEvent, ChainHead, Checkpoint
from homeconsent.audit.services import record_access
from homeconsent.audit.verification import verify_log
from homeconsent.registry.models import Person

THREADS = 6
EVENTS_PER_THREAD = 20


class OneDatabase:
    def __init__(self, alias):
        self.alias = alias

    def db_for_read(self, model, **hints):
        return self.alias

    db_for_write = db_for_read


class WriterDatabase:
    """Where the writer threads write, and how each thread opens its own connection to it."""

    def __init__(self, alias, settings_dict=None):
        self.alias = alias
        self.settings_dict = settings_dict

    def connect(self):
        # A fresh connection for the current thread, to a database the test runner does not manage
        # (so it stays out of the runner's list of aliases, which only names test databases).
        if self.settings_dict is not None:
            connections[self.alias] = connections["default"].__class__(self.settings_dict, self.alias)

    def disconnect(self):
        if self.settings_dict is not None:
            connections[self.alias].close()
            del connections[self.alias]
        else:
            connections[self.alias].close()


@pytest.fixture
def writer_db(transactional_db, settings, tmp_path):
    """A database the threads share, each over its own connection. The SQLite test database lives
    in shared-cache memory, where writers fail at once instead of queueing, so on SQLite this is a
    WAL file with the project's options (IMMEDIATE transactions) holding the tables it needs."""
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield WriterDatabase(connection.alias)
        return
    database = WriterDatabase(
        "audit_writers", dict(connections.settings["default"], NAME=str(tmp_path / "writers.sqlite3"))
    )
    database.connect()
    with connections[database.alias].schema_editor() as editor:
        for model in (Person, ChainHead, AccessEvent, Checkpoint):
            editor.create_model(model)
    settings.DATABASE_ROUTERS = [OneDatabase(database.alias)]
    yield database
    database.disconnect()


def write_concurrently(database):
    alias = database.alias
    people = [
        Person.objects.using(alias).create(name=f"試験 {n}", name_kana="シケン", sex="2", birth_date="1948-02-29")
        for n in range(5)
    ]  # 5 people over 4 chains: two share a chain, and every chain has several writers at once
    start = threading.Barrier(THREADS)
    errors = []

    def writer(number):
        try:
            database.connect()
            start.wait()
            for i in range(EVENTS_PER_THREAD):
                person = people[(number + i) % len(people)] if i % 7 else None  # some events have no person
                with transaction.atomic(using=alias):
                    record_access(actor_type="institution_client", actor_id=f"writer-{number}", person=person,
                                  items=["qualification"], basis="consent", detail={"i": i})  # fmt: skip
        except Exception as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
        finally:
            database.disconnect()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def assert_every_chain_is_linear(database):
    alias = database.alias
    rows = AccessEvent.objects.using(alias).order_by("chain", "seq").values_list("chain", "seq", "prev_hash", "hash")
    by_chain = {}
    for chain, seq, prev_hash, hash_ in rows:
        by_chain.setdefault(chain, []).append((seq, prev_hash, hash_))
    assert sum(len(chain_rows) for chain_rows in by_chain.values()) == THREADS * EVENTS_PER_THREAD
    assert set(by_chain) == {0, 1, 2, 3}
    for chain_rows in by_chain.values():
        assert [seq for seq, _, _ in chain_rows] == list(range(1, len(chain_rows) + 1))
        links = [prev for _, prev, _ in chain_rows]
        assert links == ["0" * 64] + [hash_ for _, _, hash_ in chain_rows[:-1]]
    report = verify_log(using=alias)
    assert report.ok, report.broken
    assert report.total == THREADS * EVENTS_PER_THREAD


def test_concurrent_writers_on_sqlite_keep_every_chain_linear(writer_db):
    if connections[writer_db.alias].vendor != "sqlite":
        pytest.skip("runs on SQLite")
    errors = write_concurrently(writer_db)
    assert errors == []
    assert_every_chain_is_linear(writer_db)


@pytest.mark.postgres
def test_concurrent_writers_on_postgresql_keep_every_chain_linear(writer_db):
    errors = write_concurrently(writer_db)
    assert errors == []
    assert_every_chain_is_linear(writer_db)
