"""Registration links a card only to the holder the registry knows for it; keys merely confirm.

The reproduced takeover: someone with a card of their own and a victim's insurance numbers and
birth date registered that card for the victim and signed in as them."""

import pytest

from homeconsent.jpki.pki import do_register_card_certificate
from homeconsent.registry.models import CardCertificate

from .conftest import answer_card

MY_KEYS = {
    "insurer_number": "01130012",
    "symbol": "1234",
    "number": "5678",
    "branch": "00",
    "birth_date": "1950-04-02",
}
NOBODYS_KEYS = {**MY_KEYS, "number": "4444"}


def register(client, key, certificate, keys):
    form = client.post("/portal/register/", keys)
    assert form.status_code == 302
    return answer_card(client, "register", key, certificate)


@pytest.fixture
def attackers_fresh_card(pki, card_keys, me):
    """A card from the test PKI that no registry row links to anyone."""
    return card_keys[2], pki.issue_user_auth_certificate(card_keys[2].public_key(), me.person.birth_date)


@pytest.fixture
def my_unregistered_card(pki, card_keys, me):
    certificate = pki.issue_user_auth_certificate(card_keys[2].public_key(), me.person.birth_date)
    do_register_card_certificate(me.person, certificate, registered_for_insurance_use=False)
    return card_keys[2], certificate


def test_a_fresh_card_with_my_keys_is_refused_and_cannot_sign_in_as_me(client, me, attackers_fresh_card):
    # given a card nobody's registry row names, and my numbers and birth date
    key, certificate = attackers_fresh_card

    # when it is registered with my keys, twice
    first = register(client, key, certificate, MY_KEYS)
    second = register(client, key, certificate, MY_KEYS)

    # then both are refused with the coded mismatch, nothing is linked, and sign-in fails
    for response in (first, second):
        assert response.status_code == 403 and response.json()["problem"] == "registration_identity_mismatch"
    assert not CardCertificate.objects.filter(serial=format(certificate.serial_number, "x")).exists()
    assert list(me.person.card_certificates.all()) == [me.card]
    signin = answer_card(client, "signin", key, certificate)
    assert signin.status_code == 403 and "portal.person" not in client.session


def test_another_holders_card_with_my_keys_gets_the_same_answer_as_keys_of_nobody(client, me, other):
    # given the other person's own, known card (not yet registered for insurance use)
    other.card.registered_for_insurance_use = False
    other.card.save()

    # when it is registered with my keys, and with keys that name nobody
    with_my_keys = register(client, other.key, other.certificate, MY_KEYS)
    with_nobodys_keys = register(client, other.key, other.certificate, NOBODYS_KEYS)

    # then the answers are the same: whether my keys exist is not revealed, and nothing is linked
    assert with_my_keys.status_code == with_nobodys_keys.status_code == 403
    assert with_my_keys.json() == with_nobodys_keys.json()
    assert with_my_keys.json()["problem"] == "registration_identity_mismatch"
    other.card.refresh_from_db()
    assert other.card.person == other.person and not other.card.registered_for_insurance_use


def test_my_own_card_with_my_keys_is_registered(client, me, my_unregistered_card):
    key, certificate = my_unregistered_card

    response = register(client, key, certificate, MY_KEYS)

    assert response.json() == {"next": "/portal/register/done/"}
    assert answer_card(client, "signin", key, certificate).json() == {"next": "/portal/"}
    row = CardCertificate.objects.get(serial=format(certificate.serial_number, "x"))
    assert row.person == me.person and row.registered_for_insurance_use
    assert client.session["portal.person"]["card"] == row.pk


def test_attempts_per_card_are_limited(client, settings, me, my_unregistered_card):
    # given a limit of two signed attempts per card certificate
    settings.CARD_REGISTRATION_LIMITS = {"card": 2, "keys": 100}
    key, certificate = my_unregistered_card

    # when the card tries two wrong birth dates and then the right one
    for day in ("1950-04-03", "1950-04-04"):
        assert register(client, key, certificate, {**MY_KEYS, "birth_date": day}).status_code == 403
    third = register(client, key, certificate, MY_KEYS)

    # then the third is refused as limited, with when to try again
    assert third.status_code == 429 and third.json()["problem"] == "registration_rate_limited"
    assert third["Retry-After"] and third.json()["message"]
    assert not CardCertificate.objects.get(
        serial=format(certificate.serial_number, "x")
    ).registered_for_insurance_use


def test_attempts_per_set_of_keys_are_limited_across_cards(client, settings, me, other, my_unregistered_card):
    # given a limit of two signed attempts per set of keys
    settings.CARD_REGISTRATION_LIMITS = {"card": 100, "keys": 2}
    other.card.registered_for_insurance_use = False
    other.card.save()

    # when another card tries my keys twice (birth dates guessed)
    for day in ("1950-04-02", "1950-04-05"):
        assert (
            register(client, other.key, other.certificate, {**MY_KEYS, "birth_date": day}).status_code == 403
        )

    # then my keys are paused for every card, even my own
    key, certificate = my_unregistered_card
    mine = register(client, key, certificate, MY_KEYS)
    assert mine.status_code == 429 and mine.json()["problem"] == "registration_rate_limited"
