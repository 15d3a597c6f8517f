"""The batch's stored chunks (BatchResultChunk.entries) are the JSON text of their entries, on
every back end; migration 0006 converts the chunks stored as jsonb (PostgreSQL) or under
JSONField's check (SQLite) and keeps the column's compression."""

import datetime
import json

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from clinicapi import batch
from clinicapi.models import BatchInquiry, BatchResultChunk

BEFORE = [("clinicapi", "0005_batch_chunk_lz4")]
ENTRIES = [
    {"index": 0, "segment_of_result": "9", "error_message": "検索キーに誤りがあります", "errors": []},
    {"index": 1, "segment_of_result": "1", "patient_id": None, "qualification": {"name": "鈴木 一郎"}},
]


def _inquiry(models, institution):
    now = timezone.now()
    return models.get_model("clinicapi", "BatchInquiry").objects.create(
        reception_number="2" * 20,
        institution_id=institution.pk,
        client_id="client",
        submitted_at=now,
        reference_date=datetime.date(2026, 12, 1),
        entry_count=1000,
        normal_count=1000,
        error_count=0,
        expires_at=now + batch.BATCH_RESULT_TTL,
    )


def _stored(inquiry_id):
    """(column type, the stored value as the database returns it, its compression) of the chunk."""
    table = BatchResultChunk._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT pg_typeof(entries)::text, entries::text, pg_column_compression(entries) "
                f"FROM {table} WHERE batch_id = %s",
                [inquiry_id],
            )
            return cursor.fetchone()
        cursor.execute(
            f"SELECT typeof(entries), entries, NULL FROM {table} WHERE batch_id = %s", [inquiry_id]
        )
        return cursor.fetchone()


def _has_lz4() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        return "lz4" in cursor.fetchone()[0]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db
def test_a_chunk_is_stored_as_the_json_text_of_its_entries(clinic):
    # given a chunk of entries with Japanese text and nested objects
    inquiry = _inquiry(apps, clinic)

    # when it is stored
    BatchResultChunk.objects.create(batch=inquiry, number=0, entries=ENTRIES)

    # then the database holds the entries' JSON text as written (not escaped, keys in order), and
    # reads back the same entries in the same order
    kind, text, _ = _stored(inquiry.pk)
    assert kind == "text"
    assert text == json.dumps(ENTRIES, ensure_ascii=False)
    read = BatchResultChunk.objects.get(batch=inquiry).entries
    assert json.dumps(read) == json.dumps(ENTRIES)


@pytest.mark.django_db(transaction=True)
def test_chunks_stored_before_the_text_column_read_the_same_after_it(clinic):
    # given the database before migration 0006, with a chunk stored as JSONField stored it
    # (1,000 entries: on PostgreSQL large enough to be compressed)
    old = migrate(BEFORE)
    inquiry = _inquiry(old, clinic)
    entries = ENTRIES + [batch._nobody(i, datetime.date(2026, 12, 1)) for i in range(2, 1000)]
    old.get_model("clinicapi", "BatchResultChunk").objects.create(batch=inquiry, number=0, entries=entries)
    before = _stored(inquiry.pk)[::2]
    assert before[0] == ("jsonb" if connection.vendor == "postgresql" else "text")

    # when the migrations run
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # then the chunk reads the same entries from a text column, compressed as the column says
    kind, _, compression = _stored(inquiry.pk)
    assert kind == "text"
    assert BatchResultChunk.objects.get(batch_id=inquiry.pk).entries == entries
    if connection.vendor == "postgresql" and _has_lz4():
        assert compression == "lz4"

    # and migrating back gives jsonb (PostgreSQL) holding the same entries, compressed alike
    old = migrate(BEFORE)
    assert _stored(inquiry.pk)[::2] == before
    assert old.get_model("clinicapi", "BatchResultChunk").objects.get(batch_id=inquiry.pk).entries == entries
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert BatchInquiry.objects.filter(pk=inquiry.pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_migrating_back_keeps_a_chunk_whose_error_entry_echoes_a_nul(clinic):
    # given a chunk stored as text whose error entry repeats an input holding U+0000 (jsonb has no NUL)
    inquiry = _inquiry(apps, clinic)
    entries = [
        {"index": 0, "segment_of_result": "9", "error_message": "「1\x002」は読めません", "errors": []}
    ]
    BatchResultChunk.objects.create(batch=inquiry, number=0, entries=entries)

    # when the migrations go back to jsonb
    old = migrate(BEFORE)

    # then the chunk is kept, with U+FFFD where the NUL was
    kept = old.get_model("clinicapi", "BatchResultChunk").objects.get(batch_id=inquiry.pk).entries
    assert kept[0]["error_message"] == "「1\ufffd2」は読めません"
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
