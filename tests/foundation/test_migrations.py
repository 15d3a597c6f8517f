"""Every model change has its migration: a model edited without one would pass the tests (they build
their database from the models' migrations) and then differ from what production migrates to."""

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_models_and_their_migrations_agree():
    out = io.StringIO()

    # when Django compares the models with the migrations, writing nothing
    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    # then it finds no change (makemigrations --check exits with SystemExit(1) when it does)
    assert "No changes detected" in out.getvalue()


PERSON_TABLES_WITH_A_COMPOSITE_INDEX = (
    "registry_medicationrecord",
    "registry_treatmentrecord",
    "registry_checkupresult",
    "registry_expensenotice",
    "registry_publicexpensecertificate",
    "consent_consent",
    "notices_noticeacknowledgement",
    "audit_accessevent",
)


def test_a_person_column_has_one_index_and_keeps_its_foreign_key():
    from django.db import connection

    with connection.cursor() as cursor:
        for table in PERSON_TABLES_WITH_A_COMPOSITE_INDEX:
            constraints = connection.introspection.get_constraints(cursor, table).values()

            # then no index on person_id alone (a (person, …) index serves those lookups) …
            alone = [c for c in constraints if c["index"] and c["columns"] == ["person_id"]]
            leading = [
                c for c in constraints if (c["index"] or c["unique"]) and c["columns"][:1] == ["person_id"]
            ]
            assert not alone and leading, table
            # … and the foreign key to the person is still there (the migration dropped only the index)
            if connection.vendor == "postgresql":
                keys = [c for c in constraints if c["foreign_key"] and c["columns"] == ["person_id"]]
                assert keys, table
