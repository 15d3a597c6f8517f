"""Migration operations shared by several apps' migrations."""

from django.db import migrations

# How long an index drop waits for its table's lock before it fails (PostgreSQL): a migration that
# queues behind a long reader (a seal or a verification of the access log) would hold every API
# read queued behind it.
LOCK_TIMEOUT = "5s"


def foreign_key_index_dropped(alter_field: migrations.AlterField, table: str, index: str):
    """`alter_field` (a foreign key made db_index=False) in the migration state, and in the database
    only DROP INDEX: Django's AlterField would also drop and re-add the foreign key constraint,
    which checks every row again under lock (minutes on a large medical table or access log)."""
    column = f"{alter_field.name}_id"

    def run(statement):
        def operation(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            schema_editor.execute(statement)

        return operation

    return migrations.SeparateDatabaseAndState(
        state_operations=[alter_field],
        database_operations=[
            migrations.RunPython(
                run(f'DROP INDEX IF EXISTS "{index}"'),
                run(f'CREATE INDEX "{index}" ON "{table}" ("{column}")'),
            )
        ],
    )
