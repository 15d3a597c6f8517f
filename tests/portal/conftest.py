"""Portal fixtures: a test PKI and card keys made once per session, a person with records of every
kind, another person who must never show up, and a client signed in through the real card path
(challenge from the server, signature by the card's key, verification by the server)."""

import base64
import datetime
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.utils import timezone

from homeconsent.consent import services as consent_services
from homeconsent.consent.challenges import verify_card_authentication
from homeconsent.consent.models import CardAuthChallenge
from homeconsent.jpki.pki import TestPKI, do_register_card_certificate
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import (
    ElderlyCertificate,
    Institution,
    Insurer,
    InsurerKind,
    LimitCertificate,
    Person,
    Qualification,
)

from .records import add_records


@pytest.fixture(scope="session")
def portal_pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("portal-pki")).init()


@pytest.fixture(scope="session")
def card_keys():
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


@pytest.fixture
def pki(portal_pki, settings):
    settings.JPKI_TRUST_ROOTS = [portal_pki.root_path]
    settings.JPKI_CRLS = [portal_pki.crl_path]
    return portal_pki


def der(certificate):
    return certificate.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def clinic(db):
    return Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")


@pytest.fixture
def pharmacy(db):
    return Institution.objects.create(code=with_check_digit("134765432"), name="さくら薬局")


@pytest.fixture
def insurer(db):
    return Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )


@pytest.fixture
def me(db, pki, card_keys, insurer, clinic, pharmacy):
    person = Person.objects.create(
        name="佐藤 花子", name_kana="サトウ ハナコ", sex="2", birth_date=datetime.date(1950, 4, 2)
    )
    q = Qualification.objects.create(
        person=person,
        insurer=insurer,
        symbol="1234",
        number="5678",
        branch="00",
        personal_family="1",
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="020",
    )
    Qualification.objects.create(
        person=person,
        insurer=Insurer.objects.create(
            number="138057", name="杉並区国民健康保険", kind=InsurerKind.KOKUHO, prefecture="13"
        ),
        symbol="",
        number="0000777",
        branch="00",
        personal_family="1",
        acquired_on=datetime.date(2010, 4, 1),
        lost_on=datetime.date(2020, 4, 1),
        reason_of_loss="03",
        contribution_ratio="030",
    )
    today = timezone.localdate()
    LimitCertificate.objects.create(
        qualification=q,
        classification="B05",
        valid_from=today.replace(month=1, day=1),
        valid_until=today.replace(month=12, day=31),
    )
    ElderlyCertificate.objects.create(
        qualification=q,
        issued_on=datetime.date(2020, 4, 1),
        valid_from=datetime.date(2020, 5, 1),
        valid_until=datetime.date(2027, 7, 31),
        contribution_ratio="020",
    )
    add_records(person, clinic, pharmacy, "")
    certificate = pki.issue_user_auth_certificate(card_keys[0].public_key(), person.birth_date)
    card = do_register_card_certificate(person, certificate)
    return SimpleNamespace(
        person=person, key=card_keys[0], certificate=certificate, card=card, qualification=q
    )


@pytest.fixture
def other(db, pki, card_keys, insurer, clinic, pharmacy):
    person = Person.objects.create(
        name="別人 次郎", name_kana="ベツジン ジロウ", sex="1", birth_date=datetime.date(1960, 1, 1)
    )
    Qualification.objects.create(
        person=person,
        insurer=insurer,
        symbol="1234",
        number="9999",
        branch="00",
        personal_family="1",
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="030",
    )
    add_records(person, clinic, pharmacy, "★他人")
    certificate = pki.issue_user_auth_certificate(card_keys[1].public_key(), person.birth_date)
    card = do_register_card_certificate(person, certificate)
    return SimpleNamespace(person=person, key=card_keys[1], certificate=certificate, card=card)


def answer_card(client, action, key, certificate):
    """The page's card step without a browser: challenge from the server, the card's signature back."""
    issued = client.post(f"/portal/card/{action}/challenge").json()
    challenge = CardAuthChallenge.objects.get(pk=issued["challenge"])
    assert base64.b64decode(issued["challenge_message"]) == challenge.message()
    signature = key.sign(challenge.message(), padding.PKCS1v15(), hashes.SHA256())
    return client.post(
        f"/portal/card/{action}/answer",
        {
            "challenge": issued["challenge"],
            "certificate": base64.b64encode(der(certificate)).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
        content_type="application/json",
    )


@pytest.fixture
def signed_in(client, me):
    response = answer_card(client, "signin", me.key, me.certificate)
    assert response.status_code == 200, response.content
    return client


def give_consent(who, institution, items=("medication", "checkup", "treatment"), kind="home_visit"):
    """A consent registered as the consent pages do: a consent challenge signed by `who`'s card."""
    challenge = consent_services.issue_consent_challenge(
        institution, kind=kind, items=["qualification", *items]
    )
    signature = who.key.sign(challenge.message(), padding.PKCS1v15(), hashes.SHA256())
    verified = verify_card_authentication(challenge.nonce, der(who.certificate), signature, "consent")
    return consent_services.do_register_consent(verified, kind=kind, items=["qualification", *items])
