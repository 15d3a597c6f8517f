"""On PostgreSQL, the access log becomes a table partitioned by month (audit/partitions.py): its rows
move into month partitions in this migration's transaction, and the append-only trigger is defined on
the partitioned table, so every partition has it. Month seals get the trigger too. Elsewhere a no-op.

Nothing may reference the log by a foreign key any more: notices.0002 dropped the only one first.
"""

from django.db import migrations

from homeconsent.audit import partitions

SEAL_TRIGGER = (
    "CREATE TRIGGER audit_monthseal_append_only BEFORE UPDATE OR DELETE ON audit_monthseal "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    partitions.partition_table(schema_editor.connection)
    schema_editor.execute(SEAL_TRIGGER)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS audit_monthseal_append_only ON audit_monthseal")
    partitions.unpartition_table(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_month_seal"),
        ("notices", "0002_event_without_database_constraint"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
