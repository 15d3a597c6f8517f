"""On PostgreSQL, refuse UPDATE and DELETE of access events and checkpoints in the database itself,
whoever connects. Elsewhere a no-op (the model and queryset still refuse them).

TRUNCATE is left alone so that test databases can be flushed; a truncated log is caught by
verify_access_log against the latest signed checkpoint.
"""

from django.db import migrations

TABLES = ("audit_accessevent", "audit_checkpoint")

CREATE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_append_only: % on % refused, the access log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""
TRIGGER = (
    "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
)
DROP_TRIGGER = "DROP TRIGGER IF EXISTS {table}_append_only ON {table};"
DROP = "DROP FUNCTION IF EXISTS audit_refuse_change();"


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE, params=None)  # no placeholders: the % belong to plpgsql
    for table in TABLES:
        schema_editor.execute(TRIGGER.format(table=table))


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(DROP_TRIGGER.format(table=table))
    schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers, elidable=False)]
