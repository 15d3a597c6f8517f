"""PostgreSQL: the batch's stored results (clinicapi_batchresultchunk.entries) compressed with lz4.

A batch of 10,000 disclosed entries stores about 11 MB of jsonb in ten rows, all of it compressed
out of line (TOAST); pglz, the default, took about 40 ms more of the storing statement than lz4
does (bench/README.md). Only the column's setting changes: stored rows keep pglz until they are rewritten or purged
(`manage.py purge_batches`).
A server built without lz4 keeps pglz (pg_settings lists the methods it has).
"""

from django.db import migrations

from homeconsent.migration_ops import LOCK_TIMEOUT

TABLE, COLUMN = "clinicapi_batchresultchunk", "entries"


def _has_lz4(schema_editor) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return row is not None and "lz4" in row[0]


def _set_compression(method: str):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql" or not _has_lz4(schema_editor):
            return
        # A catalog change, no rewrite; it still waits for the table's lock behind readers.
        schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        schema_editor.execute(f'ALTER TABLE "{TABLE}" ALTER COLUMN "{COLUMN}" SET COMPRESSION {method}')

    return operation


class Migration(migrations.Migration):
    dependencies = [("clinicapi", "0004_medication_read_function")]

    operations = [migrations.RunPython(_set_compression("lz4"), _set_compression("default"), elidable=False)]
