"""The staff models moved from the console app to homeconsent.accounts keeping their tables: a
database made before the move migrates without losing or copying a row."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from homeconsent.accounts.models import EnrolmentLink, StaffMembership
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution

BEFORE_THE_MOVE = [("console", "0001_initial"), ("accounts", None)]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


@pytest.mark.django_db(transaction=True)
def test_staff_rows_written_before_the_move_are_the_accounts_apps_after_it(django_user_model):
    # given the database as it was before the move, with a staff member and a link in the console's tables
    old = migrate(BEFORE_THE_MOVE)
    assert ("console", "staffmembership") in {
        (m._meta.app_label, m._meta.model_name) for m in old.get_models()
    }
    institution = Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")
    user = django_user_model.objects.create(username="nurse-before")
    now = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    member = old.get_model("console", "StaffMembership").objects.create(
        user_id=user.pk, institution_id=institution.pk, role="staff", created_at=now
    )
    old.get_model("console", "EnrolmentLink").objects.create(
        membership_id=member.pk, token_hash="a" * 64, created_at=now, expires_at=now, created_by="admin"
    )
    # when the move's migrations run
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())
    # then the accounts app reads the very same rows from the very same tables
    moved = StaffMembership.objects.get(pk=member.pk)
    assert moved.user.username == "nurse-before" and moved.institution == institution
    assert EnrolmentLink.objects.get(membership=moved).token_hash == "a" * 64
    assert StaffMembership._meta.db_table == "console_staffmembership"
