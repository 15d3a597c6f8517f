"""The batch's stored results (clinicapi_batchresultchunk.entries) as JSON text, not jsonb.

Nothing reads into the chunks: a fetch reads each one back whole and parses it in Python, so
PostgreSQL's parse of a batch's result text into jsonb (about 105 ms of an all-disclosed batch of
10,000, bench/README.md) bought nothing. Stored rows are converted (PostgreSQL: `entries::text`;
SQLite: the table rebuild copies the text and drops JSONField's JSON_VALID check).

On PostgreSQL a change of type resets the column's compression to the default and rewrites every
row with it; here the change keeps the column's method (lz4 since migration 0005) in the same
statement, so the rewritten rows are compressed with it too.
"""

import json

from django.db import migrations

import clinicapi.models
from homeconsent.migration_ops import LOCK_TIMEOUT

TABLE, COLUMN = "clinicapi_batchresultchunk", "entries"


class _AlterKeepingCompression(migrations.AlterField):
    """AlterField; on PostgreSQL one ALTER TABLE that changes the type and sets the compression
    the column had."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            _retype(schema_editor, "text")
        else:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            _without_nul(schema_editor)
            _retype(schema_editor, "jsonb")
        else:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _without_nul(schema_editor) -> None:
    """jsonb cannot hold U+0000, which an error entry may echo from its input (text can, escaped):
    such chunks go back with U+FFFD in its place."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'SELECT id, "{COLUMN}" FROM "{TABLE}" WHERE strpos("{COLUMN}", %s) > 0', ["\\u0000"])
        for pk, text in cursor.fetchall():
            entries = json.dumps(_replace_nul(json.loads(text)), ensure_ascii=False)
            cursor.execute(f'UPDATE "{TABLE}" SET "{COLUMN}" = %s WHERE id = %s', [entries, pk])


def _replace_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_replace_nul(v) for v in value]
    if isinstance(value, dict):
        return {_replace_nul(k): _replace_nul(v) for k, v in value.items()}
    return value


def _retype(schema_editor, db_type: str) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s",
            [TABLE, COLUMN],
        )
        row = cursor.fetchone()
    method = {"l": "lz4", "p": "pglz"}.get(row[0] if row else "")
    keep = f', ALTER COLUMN "{COLUMN}" SET COMPRESSION {method}' if method else ""
    # Rewrites the table under its lock (every stored batch, expired ones too unless purged); the
    # lock is waited for briefly only.
    schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    schema_editor.execute(
        f'ALTER TABLE "{TABLE}" ALTER COLUMN "{COLUMN}" TYPE {db_type} USING "{COLUMN}"::{db_type}{keep}'
    )


class Migration(migrations.Migration):
    dependencies = [("clinicapi", "0005_batch_chunk_lz4")]

    operations = [
        _AlterKeepingCompression(
            model_name="batchresultchunk", name="entries", field=clinicapi.models.JSONTextField()
        ),
    ]
