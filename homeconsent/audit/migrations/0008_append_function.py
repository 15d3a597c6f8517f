"""On PostgreSQL, install the access log's bulk append as one database function (audit.sqlappend).
Elsewhere a no-op: SQLite appends in Python.

The function text is built from the current models, so audit.apps also re-installs it after every
migrate: a later migration of the log's tables gets a matching function (its name carries the hash
of its text; the code calls only the one matching it)."""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from homeconsent.audit import sqlappend

    sqlappend.APPEND.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from homeconsent.audit import sqlappend

    sqlappend.APPEND.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_partitioned_by_month")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
