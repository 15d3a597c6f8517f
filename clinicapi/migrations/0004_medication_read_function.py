"""On PostgreSQL, install the medication read as one database function (clinicapi.fastmedication).
Elsewhere a no-op: SQLite keeps the general path. Like 0003's eligibility check, clinicapi.apps
re-installs it after every migrate, so a later migration of a table it reads gets a matching one."""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from clinicapi import fastmedication

    fastmedication.MEDICATION.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from clinicapi import fastmedication

    fastmedication.MEDICATION.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("clinicapi", "0003_eligibility_check_function"),
        ("audit", "0007_partitioned_by_month"),
        ("consent", "0008_challenge_origin_and_message_version"),
        ("registry", "0005_person_rows_n_distinct"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
