"""Concurrent writers never fork a chain: every chain stays 1..n, each row linked to the one before."""

import threading

import pytest
from django.db import connection, transaction

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import record_access, record_accesses
from homeconsent.audit.sqlappend import APPEND
from homeconsent.audit.verification import verify_log
from homeconsent.registry.models import Person

THREADS = 6
EVENTS_PER_THREAD = 20


def write_concurrently(bulk=False):
    """THREADS writers at once, each EVENTS_PER_THREAD events: one transaction per event, or
    (bulk) one record_accesses per thread, but for the first thread's single events among them."""
    people = [
        Person.objects.create(name=f"試験 {n}", name_kana="シケン", sex="2", birth_date="1948-02-29")
        for n in range(5)
    ]  # 5 people over 4 chains: two share a chain, and every chain has several writers at once
    start = threading.Barrier(THREADS)
    errors = []

    def event(number, i):
        return {
            "actor_type": "institution_client",
            "actor_id": f"writer-{number}",
            "person": people[(number + i) % len(people)] if i % 7 else None,  # some events have no person
            "items": ["qualification"],
            "basis": "consent",
            "detail": {"i": i},
        }

    def writer(number):
        try:
            start.wait()
            if bulk and number:
                with transaction.atomic():
                    record_accesses([event(number, i) for i in range(EVENTS_PER_THREAD)])
                return
            for i in range(EVENTS_PER_THREAD):
                with transaction.atomic():
                    record_access(**event(number, i))
        except Exception as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def assert_every_chain_is_linear():
    rows = AccessEvent.objects.order_by("chain", "seq").values_list("chain", "seq", "prev_hash", "hash")
    by_chain = {}
    for chain, seq, prev_hash, hash_ in rows:
        by_chain.setdefault(chain, []).append((seq, prev_hash, hash_))
    assert sum(len(chain_rows) for chain_rows in by_chain.values()) == THREADS * EVENTS_PER_THREAD
    assert set(by_chain) == {0, 1, 2, 3}
    for chain_rows in by_chain.values():
        assert [seq for seq, _, _ in chain_rows] == list(range(1, len(chain_rows) + 1))
        links = [prev for _, prev, _ in chain_rows]
        assert links == ["0" * 64] + [hash_ for _, _, hash_ in chain_rows[:-1]]
    report = verify_log()
    assert report.ok, report.broken
    assert report.total == THREADS * EVENTS_PER_THREAD


def test_concurrent_writers_on_sqlite_keep_every_chain_linear(transactional_db):
    if connection.vendor != "sqlite":
        pytest.skip("runs on SQLite")
    errors = write_concurrently()
    assert errors == []
    assert_every_chain_is_linear()


@pytest.mark.postgres
def test_concurrent_writers_on_postgresql_keep_every_chain_linear(transactional_db):
    errors = write_concurrently()
    assert errors == []
    assert_every_chain_is_linear()


@pytest.mark.postgres
def test_concurrent_bulk_writers_on_postgresql_keep_every_chain_linear(transactional_db):
    # given the bulk append in SQL (audit.sqlappend), and heads that do not exist yet
    assert APPEND.enabled(connection)
    # when writers append their events in one call each to the same chains, beside a single writer
    errors = write_concurrently(bulk=True)
    # then no chain forks
    assert errors == []
    assert_every_chain_is_linear()
