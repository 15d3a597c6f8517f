"""Seeding through COPY on PostgreSQL writes exactly the rows the ORM writes (on SQLite too), and a
bulk load's dropped indexes and foreign keys come back as they were."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.db import connection

from homeconsent.consent.models import Consent
from homeconsent.registry import bulkload
from homeconsent.registry.models import MedicationRecord, Person
from homeconsent.registry.seeding import BULK_TABLES, registry_digest, seed_registry
from tests.registry.test_seeding_determinism import wipe

AS_OF = date(2025, 6, 1)
ROOT = Path(__file__).resolve().parents[2]
postgresql_only = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").split(":")[0] not in ("postgres", "postgresql"),
    reason="COPY and index deferral are PostgreSQL's",
)
TABLES = [m._meta.db_table for m in BULK_TABLES]


def sqlite_digest(tmp_path, *args) -> str:
    """seed_registry on a fresh SQLite file in another process (the ORM path), and its digest."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env |= {"HOMECONSENT_SQLITE_PATH": str(tmp_path / "seed.sqlite3"), "HOMECONSENT_VAR_DIR": str(tmp_path)}

    def manage(*command):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "-v0")
    out = manage("seed_registry", *args, "--digest")
    return out.rsplit("digest ", 1)[1].strip()


def test_the_digest_changes_with_the_seed_and_with_any_value(db):
    # given a seeded registry and its digest
    seed_registry(40, seed=1, as_of=AS_OF)
    first = registry_digest()
    # when one medication row changes, or the registry is seeded again with the same or another seed
    row = MedicationRecord.objects.order_by("pk").last()
    MedicationRecord.objects.filter(pk=row.pk).update(days=row.days + 1)
    changed = registry_digest()
    wipe()
    seed_registry(40, seed=1, as_of=AS_OF)
    again = registry_digest()
    wipe()
    seed_registry(40, seed=2, as_of=AS_OF)
    other = registry_digest()
    # then only the same seed gives the same digest, whatever the ids
    assert again == first and changed != first and other != first


@postgresql_only
def test_copy_writes_what_the_orm_writes_here_and_on_sqlite(db, tmp_path):
    # given the same seed written by bulk INSERTs and by COPY on PostgreSQL
    orm = seed_registry(150, seed=7, as_of=AS_OF, chunk_size=60, copy=False)
    by_insert = registry_digest()
    wipe()
    copied = seed_registry(150, seed=7, as_of=AS_OF, chunk_size=60, copy=True)
    by_copy = registry_digest()
    # when the same command seeds a SQLite file
    on_sqlite = sqlite_digest(
        tmp_path, "--persons", "150", "--seed", "7", "--as-of", AS_OF.isoformat(), "--chunk-size", "60"
    )
    # then all three registries are the same rows
    assert copied.counts == orm.counts and copied.counts["MedicationRecord"] > 1000
    assert by_copy == by_insert == on_sqlite


@postgresql_only
def test_copy_reserves_person_ids_from_the_sequence(db):
    # given persons seeded by COPY
    seed_registry(30, seed=3, as_of=AS_OF, copy=True)
    # when a person is then created the ordinary way
    later = Person.objects.create(name="後 から", name_kana="アト カラ", sex="1", birth_date=date(1980, 1, 1))
    # then its id follows the seeded ones (the sequence moved with them)
    assert later.pk > Person.objects.exclude(pk=later.pk).order_by("-pk").first().pk


@postgresql_only
def test_a_deferred_load_builds_the_same_indexes_and_foreign_keys_again(db):
    # given the medical tables' definitions before a load
    before = bulkload.secondary_definitions(TABLES)
    during = []
    # when a registry is loaded with the indexes deferred
    seed_registry(
        60,
        seed=5,
        as_of=AS_OF,
        chunk_size=30,
        defer_indexes=True,
        progress=lambda *_: during.append(bulkload.secondary_definitions(TABLES)),
    )
    # then they were gone during the load and are all back after it
    assert all(fks == [] and indexes == [] for state in during for fks, indexes in state.values())
    assert bulkload.secondary_definitions(TABLES) == before
    assert all(fks and indexes for fks, indexes in before.values())


@postgresql_only
def test_a_failed_load_still_gets_its_indexes_back(db):
    # given the definitions before
    before = bulkload.secondary_definitions(TABLES)
    # when the load fails half-way
    with pytest.raises(RuntimeError), bulkload.deferred_indexes(TABLES):
        raise RuntimeError("chunk failed")
    # then the indexes and foreign keys are there again
    assert bulkload.secondary_definitions(TABLES) == before


def test_copy_refuses_a_field_it_cannot_write_as_it_is(db):
    # given a model with a JSON field; when COPY is asked to write it; then it refuses by name
    with pytest.raises(TypeError, match="items"):
        bulkload.copy_rows(Consent, [Consent()])


@postgresql_only
def test_the_planner_counts_persons_in_the_medical_tables_as_a_share_of_their_rows(db):
    # given the migrated schema; when the person columns' options are read
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attoptions FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE c.relname = ANY(%s) AND a.attname = 'person_id'",
            [TABLES],
        )
        options = dict(cursor.fetchall())
    # then each holds a negative n_distinct (a share of the rows), not ANALYZE's sampled count,
    # which undercounts persons at millions of rows and turns a patient's read into scans
    assert set(options) == set(TABLES)
    assert all(any(o.startswith("n_distinct=-0.0") for o in each or []) for each in options.values()), options
