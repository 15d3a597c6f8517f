"""Migration operations shared by several apps' migrations."""

from django.db import migrations


def foreign_key_index_dropped(alter_field: migrations.AlterField, table: str, index: str):
    """`alter_field` (a foreign key made db_index=False) in the migration state, and in the database
    only DROP INDEX: Django's AlterField would also drop and re-add the foreign key constraint,
    which checks every row again under lock (minutes on a large medical table or access log)."""
    column = f"{alter_field.name}_id"
    return migrations.SeparateDatabaseAndState(
        state_operations=[alter_field],
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX IF EXISTS "{index}"',
                reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{column}")',
            )
        ],
    )
