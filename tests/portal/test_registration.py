"""健康保険証利用登録: the card's signature, the card's holder as the registry (J-LIS's part) knows it,
and insurance keys plus birth date that must name that same holder."""

import datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from homeconsent.audit.models import AccessEvent
from homeconsent.consent.challenges import issue_challenge
from homeconsent.errors import HomeConsentError
from homeconsent.jpki.pki import do_register_card_certificate
from homeconsent.jpki.registration import do_register_card_for_insurance_use
from homeconsent.registry.models import CardCertificate, CardCertificateStatus

from .conftest import answer_card, der

KEYS = {
    "insurer_number": "01130012",
    "symbol": "1234",
    "number": "5678",
    "branch": "00",
    "birth_date": "1950-04-02",
}


@pytest.fixture
def new_card(pki, card_keys, me):
    """A card issued to me (the registry knows it is mine), not yet registered for insurance use."""
    certificate = pki.issue_user_auth_certificate(card_keys[2].public_key(), me.person.birth_date)
    do_register_card_certificate(me.person, certificate, registered_for_insurance_use=False)
    return card_keys[2], certificate


@pytest.fixture
def unknown_card(pki, card_keys, me):
    """A card from the test PKI that the registry has never linked to anyone."""
    certificate = pki.issue_user_auth_certificate(card_keys[2].public_key(), me.person.birth_date)
    return card_keys[2], certificate


def register(client, key, certificate, **changes):
    form = client.post("/portal/register/", {**KEYS, **changes})
    assert form.status_code == 302 and form["Location"] == "/portal/register/card/"
    return answer_card(client, "register", key, certificate)


def test_a_new_card_is_registered_for_the_person_the_keys_name_and_can_then_sign_in(client, me, new_card):
    key, certificate = new_card

    response = register(client, key, certificate)

    assert response.json() == {"next": "/portal/register/done/"}
    row = CardCertificate.objects.get(fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex())
    assert row.person == me.person and row.registered_for_insurance_use and row.registered_at
    event = AccessEvent.objects.get(person=me.person, items=["card_registration"])
    assert (event.basis, event.actor_type, event.actor_id) == ("self", "patient", f"card:{row.serial}")
    assert answer_card(client, "signin", key, certificate).json() == {"next": "/portal/"}


def test_a_wrong_birth_date_is_refused_and_nothing_is_linked(client, me, new_card):
    key, certificate = new_card

    response = register(client, key, certificate, birth_date="1950-04-03")

    assert response.status_code == 403 and response.json()["problem"] == "registration_identity_mismatch"
    assert not CardCertificate.objects.get(
        serial=format(new_card[1].serial_number, "x")
    ).registered_for_insurance_use


def test_keys_of_a_lost_qualification_are_refused(client, me, new_card):
    key, certificate = new_card

    response = register(client, key, certificate, insurer_number="138057", symbol="", number="0000777")

    assert response.json()["problem"] == "registration_identity_mismatch"


def test_a_card_already_registered_says_so(client, me):
    response = register(client, me.key, me.certificate)

    assert response.json()["problem"] == "already_registered"


def test_a_card_issued_to_another_person_cannot_be_registered_to_me(client, me, other, pki, card_keys):
    certificate = pki.issue_user_auth_certificate(card_keys[2].public_key(), other.person.birth_date)
    do_register_card_certificate(other.person, certificate, registered_for_insurance_use=False)

    response = register(client, card_keys[2], certificate)

    assert response.json()["problem"] == "registration_identity_mismatch"
    assert not CardCertificate.objects.get(
        serial=format(certificate.serial_number, "x")
    ).registered_for_insurance_use


def test_a_renewed_certificate_keeps_the_registration(client, me, pki, card_keys):
    key = card_keys[2]
    certificate = pki.issue_user_auth_certificate(key.public_key(), me.person.birth_date)
    me.card.status = CardCertificateStatus.SUPERSEDED
    me.card.save()
    renewed = do_register_card_certificate(
        me.person, certificate, registered_for_insurance_use=False, renewed_from=me.card
    )

    signin = answer_card(client, "signin", key, certificate)
    again = register(client, key, certificate)

    assert signin.json() == {"next": "/portal/"}
    assert client.session["portal.person"]["card"] == renewed.pk
    assert again.json()["problem"] == "already_registered"


def test_the_service_refuses_a_signature_over_another_message(me, new_card):
    key, certificate = new_card
    challenge = issue_challenge("portal_login", kind="insurance_registration")
    signature = key.sign(b"something else", padding.PKCS1v15(), hashes.SHA256())

    with pytest.raises(HomeConsentError) as refused:
        do_register_card_for_insurance_use(
            challenge.message(),
            der(certificate),
            signature,
            insurer_number="01130012",
            symbol="1234",
            number="5678",
            branch="00",
            birth_date=datetime.date(1950, 4, 2),
        )

    assert refused.value.code == "signature_invalid"


def test_a_sign_in_challenge_cannot_register(client, me, new_card):
    key, certificate = new_card
    client.post("/portal/register/", KEYS)
    issued = client.post("/portal/card/signin/challenge").json()

    response = client.post(
        "/portal/card/register/answer",
        {"challenge": issued["challenge"], "certificate": "AA==", "signature": "AA=="},
        content_type="application/json",
    )

    assert response.json()["problem"] == "session_expired"


def test_the_form_needs_the_keys_and_birth_date(client, db):
    response = client.post("/portal/register/", {**KEYS, "birth_date": ""})

    assert response.status_code == 400 and 'class="error"' in response.content.decode()
