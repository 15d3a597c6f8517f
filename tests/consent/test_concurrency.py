"""50 card sessions registering consents at once: each acknowledged consent is stored exactly once.

Ten patients, five sessions each: three race for the same (institution, home visit) and must leave
one active consent and a linked history of two superseded ones; the others go to a second
institution and to telehealth. The cards sign beforehand through APDUs; the threads then do what
the server does when the answers arrive together: verify and register, each on its own connection.
"""

import threading
from collections import Counter, defaultdict

import pytest
from django.db import connection
from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent.challenges import verify_card_authentication
from homeconsent.consent.models import Consent
from homeconsent.consent.rules import TOKYO
from homeconsent.consent.services import do_register_consent, issue_consent_challenge
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, Insurer
from tests.cards import card_answer

from .conftest import PIN, make_patient_in

PATIENTS = 10
SESSIONS = 50


def prepare_sessions(card_pool, tmp_path):
    insurer = Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind="kyokai", prefecture="13"
    )
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
            certificate, signature = card_answer(patient.card, challenge.digest_info(), PIN)
            terms = {"kind": kind, "items": items, "visit_date": visit_date}
            sessions.append(
                (patient.person.pk, institution.pk, challenge.nonce, certificate, signature, terms)
            )
    assert len(sessions) == SESSIONS
    return sessions


def register_concurrently(sessions):
    start = threading.Barrier(len(sessions))
    acknowledged, errors = [], []

    def card_session(nonce, certificate, signature, terms):
        try:
            start.wait()
            verified = verify_card_authentication(nonce, certificate, signature, "consent")
            consent = do_register_consent(verified, **terms)
            acknowledged.append((consent.pk, nonce))
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=card_session, args=session[2:]) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return acknowledged, errors


def assert_each_acknowledged_consent_stored_once(sessions, acknowledged):
    rows = list(Consent.objects.select_related("challenge"))
    assert len(acknowledged) == SESSIONS
    assert sorted(pk for pk, _ in acknowledged) == sorted(row.pk for row in rows)  # no losses, no extras
    by_pk = {row.pk: row for row in rows}
    assert all(by_pk[pk].challenge.nonce == nonce for pk, nonce in acknowledged)  # each under its own proof
    planned = Counter(
        (person, institution, terms["kind"]) for person, institution, _, _, _, terms in sessions
    )
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
    logged = AccessEvent.objects.filter(detail__action="consent_registered")
    assert sorted(int(pk) for pk in logged.values_list("consent_id", flat=True)) == sorted(by_pk)
    report = verify_log()
    assert report.ok, report.broken


def test_fifty_concurrent_card_sessions_on_sqlite_store_each_consent_once(
    transactional_db, card_pool, tmp_path
):
    if connection.vendor != "sqlite":
        pytest.skip("runs on SQLite")
    sessions = prepare_sessions(card_pool, tmp_path)
    acknowledged, errors = register_concurrently(sessions)
    assert errors == []
    assert_each_acknowledged_consent_stored_once(sessions, acknowledged)


@pytest.mark.postgres
def test_fifty_concurrent_card_sessions_on_postgresql_store_each_consent_once(
    transactional_db, card_pool, tmp_path
):
    sessions = prepare_sessions(card_pool, tmp_path)
    acknowledged, errors = register_concurrently(sessions)
    assert errors == []
    assert_each_acknowledged_consent_stored_once(sessions, acknowledged)
