import datetime
import itertools

import pytest
from django.db import connection

from homeconsent.registry.models import Person

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def audit_files(settings, tmp_path):
    """Checkpoints and the signing key of each test live in its own temporary folder."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_PATH = tmp_path / "keys" / "audit-signing-key.pem"
    settings.AUDIT_CHAINS = 4
    return settings


@pytest.fixture
def make_person():
    def make(**fields):
        number = next(_names)
        values = {
            "name": f"試験 {number}",
            "name_kana": f"シケン {number}",
            "sex": "1",
            "birth_date": datetime.date(1950, 4, 1),
        }
        return Person.objects.create(**(values | fields))

    return make


def tamper(sql, params=()):
    """Raw SQL as an attacker with database access would run it; on PostgreSQL that attacker
    first switches triggers off (superuser), and so past the append-only trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")


@pytest.fixture
def record_at():
    """An access recorded as if at `moment` (a past or future month), through the service's own
    append: the log of other months, with real chains and hashes."""
    from homeconsent.audit import services

    def record(moment, person=None, **fields):
        values = {
            "actor_type": "institution_client",
            "actor_id": "client-1",
            "institution_code": "1312345678",
            "items": ["qualification"],
            "basis": "consent",
            "person": person,
        }
        return services._record(services._prepared_event(values | fields), clock=lambda: moment)

    return record
