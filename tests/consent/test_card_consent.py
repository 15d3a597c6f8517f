"""A consent registered straight from the card's answer (do_register_card_consent): verified and
registered in one transaction, one commit, with every guarantee of the two steps it joins."""

import threading

import pytest
from cryptography import x509
from django.db import connection, connections

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent.challenges import issue_challenge
from homeconsent.consent.models import CardAuthChallenge, Consent
from homeconsent.consent.services import do_register_card_consent, issue_consent_challenge
from homeconsent.errors import HomeConsentError
from homeconsent.jpki.card import issue_card_file
from tests.cards import card_answer

from .conftest import BIRTH_DATE, PIN, make_patient_in

TERMS = {"kind": "home_visit", "items": ["medication"]}


def answer(patient, challenge):
    return card_answer(patient.card, challenge.digest_info(), PIN)


def refusal(*args, **terms) -> str:
    with pytest.raises(HomeConsentError) as caught:
        do_register_card_consent(*args, **(terms or TERMS))
    return caught.value.code


def registered_events():
    return AccessEvent.objects.filter(detail__action="consent_registered")


def test_a_card_answer_registers_its_consent_with_its_log_row_and_uses_the_challenge(patient, institution):
    # given a consent challenge the patient's card signed
    challenge = issue_consent_challenge(institution, **TERMS)
    certificate, signature = answer(patient, challenge)

    # when the answer arrives
    consent = do_register_card_consent(challenge.nonce, certificate, signature, **TERMS)

    # then the consent, its proof and its log row are stored, and the challenge is used up
    assert consent.person_id == patient.person.pk
    assert consent.challenge_id == challenge.pk
    assert consent.card_certificate_id == patient.card_certificate.pk
    assert [int(e.consent_id) for e in registered_events()] == [consent.pk]
    challenge.refresh_from_db()
    assert challenge.used_at is not None
    assert (challenge.outcome, challenge.card_certificate_id) == ("verified", patient.card_certificate.pk)
    assert refusal(challenge.nonce, certificate, signature) == "challenge_reused"


def test_verifying_and_registering_commit_once(transactional_db, patient, institution, monkeypatch):
    # given a signed challenge, and the connection's commits counted
    challenge = issue_consent_challenge(institution, **TERMS)
    certificate, signature = answer(patient, challenge)
    real = connections["default"]
    commits = []
    commit = real._commit
    monkeypatch.setattr(real, "_commit", lambda: commits.append(1) or commit())

    # when the answer is registered
    do_register_card_consent(challenge.nonce, certificate, signature, **TERMS)

    # then the challenge's use, the consent and its log row went in one commit
    assert len(commits) == 1
    assert Consent.objects.count() == 1 and registered_events().count() == 1


def test_a_refused_card_answer_uses_the_challenge_and_registers_nothing(patient, make_patient, institution):
    # given a challenge answered by a signature made over another challenge
    challenge = issue_consent_challenge(institution, **TERMS)
    other = issue_consent_challenge(institution, **TERMS)
    certificate, _ = answer(patient, challenge)
    _, wrong_signature = answer(patient, other)

    # when that answer arrives, then it is refused and nothing is registered
    assert refusal(challenge.nonce, certificate, wrong_signature) == "signature_invalid"
    assert not Consent.objects.exists() and not registered_events().exists()
    # and the challenge is used up with its refusal: the right answer cannot follow
    challenge.refresh_from_db()
    assert challenge.used_at is not None and challenge.outcome == "signature_invalid"
    assert refusal(challenge.nonce, *answer(patient, challenge)) == "challenge_reused"


def test_a_refused_registration_writes_nothing_but_keeps_the_challenge_used(make_patient, institution):
    # given a person with a registered card but no qualification valid today
    patient = make_patient(qualified=False)
    challenge = issue_consent_challenge(institution, **TERMS)
    certificate, signature = answer(patient, challenge)

    # when the answer arrives, then the registration is refused
    assert refusal(challenge.nonce, certificate, signature) == "no_valid_qualification"

    # and no consent and no log row are left, but the challenge stays used (the card was verified)
    assert not Consent.objects.exists() and not registered_events().exists()
    challenge.refresh_from_db()
    assert challenge.used_at is not None
    assert (challenge.outcome, challenge.card_certificate_id) == ("verified", patient.card_certificate.pk)
    assert refusal(challenge.nonce, certificate, signature) == "challenge_reused"


def test_answers_for_another_purpose_or_unknown_challenges_leave_them_untouched(patient, institution):
    login = issue_challenge("portal_login")
    certificate, signature = answer(patient, login)

    assert refusal(login.nonce, certificate, signature) == "purpose_mismatch"
    assert refusal(2**70, certificate, signature) == "challenge_unknown"
    login.refresh_from_db()
    assert login.used_at is None


def test_a_card_revoked_after_it_consented_is_refused_once_the_crl_file_changes(
    consent_pki, insurer, institution, tmp_path
):
    # given a card of its own (revoking a pooled card would touch other tests) that has consented
    class OwnCard:
        def template(self, index):
            return issue_card_file(consent_pki, tmp_path / "own-card.json", pin=PIN, birth_date=BIRTH_DATE)

    patient = make_patient_in(OwnCard(), tmp_path, insurer, 0)
    first = issue_consent_challenge(institution, **TERMS)
    do_register_card_consent(first.nonce, *answer(patient, first), **TERMS)

    # when its certificate is revoked (the CRL file is re-signed)
    consent_pki.revoke(x509.load_der_x509_certificate(patient.card.auth_cert_der).serial_number)

    # then its next answer is refused and registers nothing
    challenge = issue_consent_challenge(institution, **TERMS)
    assert refusal(challenge.nonce, *answer(patient, challenge)) == "certificate_revoked"
    assert Consent.objects.count() == 1


def _at_once(calls):
    """Run each call on its own thread and connection, released together: (results, refusal codes)."""
    start = threading.Barrier(len(calls))
    results, codes = [], []

    def run(call):
        try:
            start.wait()
            results.append(call())
        except HomeConsentError as error:
            codes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, codes


@pytest.mark.postgres
def test_the_same_answer_sent_twice_at_once_registers_one_consent(transactional_db, patient, institution):
    # given one signed challenge
    challenge = issue_consent_challenge(institution, **TERMS)
    certificate, signature = answer(patient, challenge)

    # when the answer arrives twice at the same moment
    results, codes = _at_once(
        [lambda: do_register_card_consent(challenge.nonce, certificate, signature, **TERMS)] * 2
    )

    # then one consent with one log row; the other answer is refused as a reuse
    assert len(results) == 1 and codes == ["challenge_reused"]
    assert list(Consent.objects.values_list("pk", flat=True)) == [results[0].pk]
    assert registered_events().count() == 1
    assert verify_log().ok


@pytest.mark.postgres
def test_a_wrong_and_a_right_answer_at_once_are_not_both_tried(transactional_db, patient, institution):
    # given one challenge, a right answer and a wrong one (signed over another challenge)
    challenge = issue_consent_challenge(institution, **TERMS)
    other = issue_consent_challenge(institution, **TERMS)
    certificate, signature = answer(patient, challenge)
    wrong = answer(patient, other)[1]

    # when both arrive at the same moment
    results, codes = _at_once(
        [
            lambda: do_register_card_consent(challenge.nonce, certificate, signature, **TERMS),
            lambda: do_register_card_consent(challenge.nonce, certificate, wrong, **TERMS),
        ]
    )

    # then only the first to use the challenge is judged; the other is refused as a reuse
    assert "challenge_reused" in codes and len(results) + len(codes) == 2
    used = CardAuthChallenge.objects.get(pk=challenge.pk)
    if results:  # the right one came first
        assert codes == ["challenge_reused"] and used.outcome == "verified"
    else:  # the wrong one came first: the right one could not follow
        assert sorted(codes) == ["challenge_reused", "signature_invalid"]
        assert used.outcome == "signature_invalid" and not Consent.objects.exists()
