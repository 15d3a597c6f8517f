"""The portal's card answers (sign-in, cancellation, card registration) act in the transaction that
uses their challenge up: the use and what the answer does commit together, once; a refused act writes
nothing (a registration's refusal only its row on the holder's log) and keeps the challenge used; the
same answer sent twice acts once."""

import base64
from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.db import connection

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent.models import CardAuthChallenge, Consent, ConsentStatus
from homeconsent.consent.services import do_cancel_consent
from homeconsent.registry.models import CardCertificate
from portal.views import PENDING_CANCEL, PENDING_REGISTRATION

from .conftest import answer_card, der, give_consent
from .test_registration import KEYS, new_card  # noqa: F401 - new_card: a fixture
from .test_registration import register as register_card

# Which transaction a statement ran in is only seen when the test does not wrap them all in its own.
pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def transactions_of_writes():
    """(statement, outermost atomic block) of every statement run while inside."""
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql, connection.atomic_blocks[0] if connection.atomic_blocks else None))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def run_in(seen, model, verb, mentioning=""):
    """The blocks the statements writing model's table ran in (verb: "UPDATE" or "INSERT INTO"; on
    PostgreSQL the access log's INSERT is inside a WITH)."""
    writes = f"{verb} {connection.ops.quote_name(model._meta.db_table)}"
    return [block for sql, block in seen if writes in sql and mentioning in sql]


def used(challenge):
    challenge.refresh_from_db()
    return challenge.used_at is not None, challenge.outcome


def test_a_cancellation_commits_in_the_transaction_that_uses_its_challenge(signed_in, me, clinic):
    target = give_consent(me, clinic)
    signed_in.get(f"/portal/consents/{target.pk}/cancel/")

    with transactions_of_writes() as seen:
        response = answer_card(signed_in, "cancel", me.key, me.certificate)

    assert response.json() == {"next": "/portal/consents/"}
    [use] = run_in(seen, CardAuthChallenge, "UPDATE", "used_at")
    cancelled = run_in(seen, Consent, "UPDATE")
    logged = run_in(seen, AccessEvent, "INSERT INTO")
    assert use is not None and cancelled and logged
    assert all(block is use for block in cancelled + logged)
    target.refresh_from_db()
    assert target.status == ConsentStatus.CANCELLED
    assert verify_log().ok


def test_a_sign_in_and_its_log_row_commit_with_the_use_of_its_challenge(client, me):
    with transactions_of_writes() as seen:
        response = answer_card(client, "signin", me.key, me.certificate)

    assert response.status_code == 200, response.content
    [use] = run_in(seen, CardAuthChallenge, "UPDATE", "used_at")
    logged = run_in(seen, AccessEvent, "INSERT INTO")
    assert use is not None and logged and all(block is use for block in logged)
    assert AccessEvent.objects.filter(person=me.person, detail__page="signin").count() == 1


def test_a_refused_cancellation_writes_nothing_and_keeps_the_challenge_used(signed_in, me, clinic):
    target = give_consent(me, clinic)
    signed_in.get(f"/portal/consents/{target.pk}/cancel/")
    do_cancel_consent(target, by="institution", institution=clinic, actor_id="staff:1")  # ended meanwhile
    rows = AccessEvent.objects.count()

    response = answer_card(signed_in, "cancel", me.key, me.certificate)

    assert response.status_code == 403 and response.json()["problem"] == "consent_not_active"
    challenge = CardAuthChallenge.objects.get(kind="consent_cancel")
    assert used(challenge) == (True, "verified")  # the card's answer was good: never tried again
    target.refresh_from_db()
    assert (target.status, target.ended_by) == (ConsentStatus.CANCELLED, "institution")
    assert AccessEvent.objects.count() == rows
    assert verify_log().ok


def test_the_same_cancellation_answer_sent_twice_acts_once(signed_in, me, clinic):
    target = give_consent(me, clinic)
    signed_in.get(f"/portal/consents/{target.pk}/cancel/")
    before = dict(signed_in.session.items())  # what a second request sent at once read of the session

    first = answer_card(signed_in, "cancel", me.key, me.certificate)
    challenge = CardAuthChallenge.objects.get(kind="consent_cancel")
    session = signed_in.session
    session[PENDING_CANCEL] = before[PENDING_CANCEL]
    session["proof.portal.cancel"] = challenge.pk
    session.save()
    rows = AccessEvent.objects.count()
    second = resend(signed_in, challenge, me)

    assert first.json() == {"next": "/portal/consents/"}
    assert second.status_code == 403 and second.json()["problem"] == "challenge_reused"
    assert AccessEvent.objects.count() == rows
    assert AccessEvent.objects.filter(detail__action="consent_cancelled", person=me.person).count() == 1
    assert verify_log().ok


def resend(client, challenge, who, action="cancel"):
    """The very answer the card gave (the same message signed with the same key: the same bytes)."""
    return send(client, challenge, who.key, who.certificate, action)


def send(client, challenge, key, certificate, action):
    signature = key.sign(challenge.message(), padding.PKCS1v15(), hashes.SHA256())
    return client.post(
        f"/portal/card/{action}/answer",
        {
            "challenge": challenge.pk,
            "certificate": base64.b64encode(der(certificate)).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
        content_type="application/json",
    )


# --- card registration (its refusals are on the holder's log: they commit with the use) ---------------
def test_a_registration_commits_in_the_transaction_that_uses_its_challenge(client, me, new_card):  # noqa: F811
    key, certificate = new_card

    with transactions_of_writes() as seen:
        response = register_card(client, key, certificate)

    assert response.json() == {"next": "/portal/register/done/"}
    [use] = run_in(seen, CardAuthChallenge, "UPDATE", "used_at")
    linked = run_in(seen, CardCertificate, "UPDATE")
    logged = run_in(seen, AccessEvent, "INSERT INTO")
    assert use is not None and linked and logged
    assert all(block is use for block in linked + logged)
    assert verify_log().ok


def test_a_refused_registration_keeps_the_challenge_used_and_commits_only_the_holders_refusal(
    client,
    me,
    new_card,  # noqa: F811
):
    key, certificate = new_card
    rows = AccessEvent.objects.count()

    with transactions_of_writes() as seen:
        response = register_card(client, key, certificate, birth_date="1950-04-03")

    assert response.json()["problem"] == "registration_identity_mismatch"
    challenge = CardAuthChallenge.objects.get(kind="insurance_registration")
    assert used(challenge) == (True, "verified")
    card = CardCertificate.objects.get(serial=format(certificate.serial_number, "x"))
    assert not card.registered_for_insurance_use and card.registered_at is None
    assert AccessEvent.objects.count() == rows + 1
    refusal = AccessEvent.objects.get(detail__action="register_for_insurance_use")
    assert (refusal.person_id, refusal.outcome, refusal.detail["code"]) == (
        me.person.pk,
        "refused",
        "registration_identity_mismatch",
    )
    [use] = run_in(seen, CardAuthChallenge, "UPDATE", "used_at")
    logged = run_in(seen, AccessEvent, "INSERT INTO")
    assert logged and all(block is use for block in logged)  # the holder's row, with the use
    assert verify_log().ok


def test_the_same_registration_answer_sent_twice_registers_once(client, me, new_card):  # noqa: F811
    key, certificate = new_card
    client.post("/portal/register/", KEYS)
    issued = client.post("/portal/card/register/challenge").json()
    before = dict(client.session.items())  # what a second request sent at once read of the session
    challenge = CardAuthChallenge.objects.get(pk=issued["challenge"])
    first = send(client, challenge, key, certificate, "register")
    session = client.session
    session[PENDING_REGISTRATION] = before[PENDING_REGISTRATION]
    session["proof.portal.register"] = challenge.pk
    session.save()
    rows = AccessEvent.objects.count()

    second = send(client, challenge, key, certificate, "register")

    assert first.json() == {"next": "/portal/register/done/"}
    assert second.status_code == 403 and second.json()["problem"] == "challenge_reused"
    assert AccessEvent.objects.count() == rows
    assert verify_log().ok
