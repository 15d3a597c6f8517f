"""50 card sessions registering consents at once: each acknowledged consent is stored exactly once.

Ten patients, five sessions each: three race for the same (institution, home visit) and must leave
one active consent and a linked history of two superseded ones; the others go to a second
institution and to telehealth. The cards sign beforehand through APDUs; the threads then do what
the server does when the answers arrive together: verify and register, each on its own connection.
"""

import threading
from collections import Counter, defaultdict

import pytest
from django.db import connection, connections
from django.utils import timezone

from homeconsent.audit.models import AccessEvent, ChainHead, Checkpoint
from homeconsent.audit.verification import verify_log
from homeconsent.consent.challenges import verify_card_authentication
from homeconsent.consent.models import (
    CardAuthChallenge,
    Consent,
    ConsentSession,
    TelehealthApp,
    WebhookDelivery,
)
from homeconsent.consent.rules import TOKYO
from homeconsent.consent.services import do_register_consent, issue_consent_challenge
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import (
    CardCertificate,
    ElderlyCertificate,
    Institution,
    Insurer,
    LimitCertificate,
    Person,
    Qualification,
    SpecificDiseaseCertificate,
)
from tests.audit.test_concurrency import OneDatabase, WriterDatabase

from .conftest import card_answer, make_patient_in

PATIENTS = 10
SESSIONS = 50
TABLES = (
    Person, Insurer, Qualification, ElderlyCertificate, LimitCertificate, SpecificDiseaseCertificate, Institution,
    CardCertificate, CardAuthChallenge, Consent, TelehealthApp, ConsentSession, WebhookDelivery, ChainHead,
    AccessEvent, Checkpoint,
)  # fmt: skip


@pytest.fixture
def writer_db(transactional_db, settings, tmp_path):
    """On SQLite a WAL file with the project's options (the in-memory test database cannot queue
    writers); on PostgreSQL the test database itself, each thread over its own connection."""
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield WriterDatabase(connection.alias)
        return
    database = WriterDatabase(
        "consent_writers", dict(connections.settings["default"], NAME=str(tmp_path / "consent.sqlite3"))
    )
    database.connect()
    with connections[database.alias].schema_editor() as editor:
        for model in TABLES:
            editor.create_model(model)
    settings.DATABASE_ROUTERS = [OneDatabase(database.alias)]
    yield database
    database.disconnect()


def prepare_sessions(card_pool, tmp_path):
    insurer = Insurer.objects.create(number="01130012", name="全国健康保険協会東京支部", kind="kyokai", prefecture="13")
    clinic = Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")
    pharmacy = Institution.objects.create(code=with_check_digit("134765432"), name="ひまわり薬局")
    today = timezone.now().astimezone(TOKYO).date()
    sessions = []
    for index in range(PATIENTS):
        patient = make_patient_in(card_pool, tmp_path, insurer, index)
        plans = [
            (clinic, "home_visit", ["medication"], None),
            (clinic, "home_visit", ["medication", "treatment"], None),
            (clinic, "home_visit", ["checkup"], None),
            (pharmacy, "home_visit", ["medication"], None),
            (clinic, "telehealth", ["medication"], today),
        ]
        for institution, kind, items, visit_date in plans:
            challenge = issue_consent_challenge(institution, kind=kind, items=items, visit_date=visit_date)
            certificate, signature = card_answer(patient.card, challenge.digest_info())
            terms = {"kind": kind, "items": items, "visit_date": visit_date}
            sessions.append((patient.person.pk, institution.pk, challenge.nonce, certificate, signature, terms))
    assert len(sessions) == SESSIONS
    return sessions


def register_concurrently(database, sessions):
    start = threading.Barrier(len(sessions))
    acknowledged, errors = [], []

    def card_session(nonce, certificate, signature, terms):
        try:
            database.connect()
            start.wait()
            verified = verify_card_authentication(nonce, certificate, signature, "consent")
            consent = do_register_consent(verified, **terms)
            acknowledged.append((consent.pk, nonce))
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            database.disconnect()

    threads = [threading.Thread(target=card_session, args=session[2:]) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return acknowledged, errors


def assert_each_acknowledged_consent_stored_once(database, sessions, acknowledged):
    alias = database.alias
    rows = list(Consent.objects.using(alias).select_related("challenge"))
    assert len(acknowledged) == SESSIONS
    assert sorted(pk for pk, _ in acknowledged) == sorted(row.pk for row in rows)  # no losses, no extras
    by_pk = {row.pk: row for row in rows}
    assert all(by_pk[pk].challenge.nonce == nonce for pk, nonce in acknowledged)  # each under its own proof
    planned = Counter((person, institution, terms["kind"]) for person, institution, _, _, _, terms in sessions)
    groups = defaultdict(list)
    for row in rows:
        groups[(row.person_id, row.institution_id, row.kind)].append(row)
    assert Counter({key: len(group) for key, group in groups.items()}) == planned
    for group in groups.values():
        active = [row for row in group if row.status == "active"]
        assert len(active) == 1  # one active per person, institution and kind
        # the others form one history: each superseded by the next one registered
        ordered = sorted(group, key=lambda row: (row.given_at, row.pk))
        assert ordered[-1] == active[0]
        assert [row.superseded_by_id for row in ordered[:-1]] == [row.pk for row in ordered[1:]]
        assert [row.ended_at for row in ordered[:-1]] == [row.given_at for row in ordered[1:]]
        assert all(row.status == "superseded" for row in ordered[:-1])
    logged = AccessEvent.objects.using(alias).filter(detail__action="consent_registered")
    assert sorted(int(pk) for pk in logged.values_list("consent_id", flat=True)) == sorted(by_pk)
    report = verify_log(using=alias)
    assert report.ok, report.broken


def test_fifty_concurrent_card_sessions_on_sqlite_store_each_consent_once(writer_db, card_pool, tmp_path):
    if connections[writer_db.alias].vendor != "sqlite":
        pytest.skip("runs on SQLite")
    sessions = prepare_sessions(card_pool, tmp_path)
    acknowledged, errors = register_concurrently(writer_db, sessions)
    assert errors == []
    assert_each_acknowledged_consent_stored_once(writer_db, sessions, acknowledged)


@pytest.mark.postgres
def test_fifty_concurrent_card_sessions_on_postgresql_store_each_consent_once(writer_db, card_pool, tmp_path):
    sessions = prepare_sessions(card_pool, tmp_path)
    acknowledged, errors = register_concurrently(writer_db, sessions)
    assert errors == []
    assert_each_acknowledged_consent_stored_once(writer_db, sessions, acknowledged)
