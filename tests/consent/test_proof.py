"""The proof step (homeconsent/consent/proof.py): one module issues, remembers and checks each proof."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from homeconsent.consent import proof
from homeconsent.consent.models import CardAuthChallenge
from homeconsent.errors import HomeConsentError
from tests.cards import card_answer

from .conftest import PIN


def a_request():
    request = RequestFactory().post("/", REMOTE_ADDR="127.0.0.1")
    request.session = SessionStore()
    return request


def signed_body(patient, issued):
    import base64
    import json

    challenge = CardAuthChallenge.objects.get(pk=issued["challenge"])
    certificate, signature = card_answer(patient.card, challenge.digest_info(), PIN)
    return json.dumps(
        {
            "challenge": challenge.pk,
            "certificate": base64.b64encode(certificate).decode(),
            "signature": base64.b64encode(signature).decode(),
        }
    ).encode()


def answer(request, slot, purpose, body, **binding):
    with proof.acting_on_card_answer(request, slot, purpose, body, **binding) as proved:
        return proved


@pytest.mark.parametrize("purpose", [p for p in proof.Purpose if p != proof.Purpose.CONSENT])
def test_each_purpose_is_stored_so_that_it_reads_back_as_itself(db, institution, purpose):
    issued = proof.issue(a_request(), purpose, institution=institution)

    assert proof.purpose_of(issued) == purpose


def test_a_card_answer_proves_the_person_for_the_purpose_it_was_issued_for(db, institution, patient):
    request = a_request()
    issued = proof.issue_for_page(request, "here", proof.Purpose.INQUIRY, institution=institution)

    proved = answer(request, "here", proof.Purpose.INQUIRY, signed_body(patient, issued))

    assert proved.person == patient.person and proved.authenticator == proof.Authenticator.READER
    assert proved.actor_id == f"card:{patient.card_certificate.serial}"


def test_an_answer_for_one_purpose_does_not_serve_another(db, institution, patient):
    request = a_request()
    issued = proof.issue_for_page(request, "here", proof.Purpose.PORTAL_SIGNIN)

    with pytest.raises(HomeConsentError) as refused:
        answer(request, "here", proof.Purpose.PORTAL_CANCEL, signed_body(patient, issued), cancel="all")

    assert refused.value.code == "purpose_mismatch"


def test_a_cancellation_proof_binds_what_it_cancels(db, patient):
    request = a_request()
    issued = proof.issue_for_page(request, "here", proof.Purpose.PORTAL_CANCEL, cancel="12")

    with pytest.raises(HomeConsentError) as refused:
        answer(request, "here", proof.Purpose.PORTAL_CANCEL, signed_body(patient, issued), cancel="all")

    assert refused.value.code == "purpose_mismatch"


def test_a_challenge_is_answered_once_and_only_in_the_session_and_slot_it_was_given_to(
    db, institution, patient
):
    request = a_request()
    issued = proof.issue_for_page(request, "here", proof.Purpose.INQUIRY, institution=institution)
    body = signed_body(patient, issued)

    with pytest.raises(HomeConsentError) as other_slot:
        answer(request, "elsewhere", proof.Purpose.INQUIRY, body)
    answer(request, "here", proof.Purpose.INQUIRY, body)
    with pytest.raises(HomeConsentError) as again:
        answer(request, "here", proof.Purpose.INQUIRY, body)

    assert other_slot.value.code == again.value.code == "session_expired"


def test_the_app_nonce_binds_the_whole_challenge(db, institution):
    one = proof.issue(a_request(), proof.Purpose.INQUIRY, institution=institution)
    other = proof.issue(a_request(), proof.Purpose.PORTAL_SIGNIN)

    assert proof.nonce_for(one) != proof.nonce_for(other)
    assert proof.nonce_for(one) == proof.nonce_for(CardAuthChallenge.objects.get(pk=one.pk))
    assert len(proof.nonce_for(one)) == 43


def test_issuing_past_the_limit_is_refused_with_a_retry_time(db, settings):
    settings.CHALLENGE_RATE_LIMITS = {"ip": 1}
    proof.issue(a_request(), proof.Purpose.PORTAL_SIGNIN)

    with pytest.raises(HomeConsentError) as refused:
        proof.issue(a_request(), proof.Purpose.PORTAL_SIGNIN)
    response = proof.refusal(refused.value)

    assert response.status_code == 429 and int(response["Retry-After"]) > 0
