"""On PostgreSQL, install the eligibility check as one database function (clinicapi.fastcheck).
Elsewhere a no-op: SQLite keeps the general path.

The function text is built from the current models, so clinicapi.apps also re-installs it after
every migrate: a later migration that changes a table it reads gets a matching function (its name
carries the hash of its text; the fast path calls only the one matching the code)."""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from clinicapi import fastcheck

    fastcheck.ELIGIBILITY.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from clinicapi import fastcheck

    fastcheck.ELIGIBILITY.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("clinicapi", "0002_batchinquiry_batchresultchunk"),
        ("audit", "0003_append_only_base_manager"),
        ("consent", "0005_consent_session_declined"),
        ("registry", "0002_normalize_card_keys"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
