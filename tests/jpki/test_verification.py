"""Server-side verification of a card authentication: every refusal made by a real certificate or
signature from the test PKI, and the happy path resolving the right person."""

import datetime
import hashlib
import threading

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.db import connection

from homeconsent.consent.challenges import issue_challenge, verify_card_authentication
from homeconsent.consent.models import CardAuthChallenge
from homeconsent.errors import HomeConsentError
from homeconsent.jpki.card import VirtualJPKICard
from homeconsent.jpki.pki import TestPKI, do_register_card_certificate, issue_virtual_card
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import CardCertificateStatus, Institution, Person
from tests.cards import card_answer

UTC = datetime.UTC
DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


@pytest.fixture(scope="module")
def module_pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki")).init()


@pytest.fixture
def pki(module_pki, settings):
    settings.JPKI_TRUST_ROOTS = [module_pki.root_path]
    settings.JPKI_CRLS = [module_pki.crl_path]
    return module_pki


@pytest.fixture(scope="module")
def card_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def person(db):
    return Person.objects.create(
        name="佐藤 花子", name_kana="サトウ ハナコ", sex="2", birth_date=datetime.date(1948, 4, 2)
    )


@pytest.fixture
def institution(db):
    return Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")


def der(certificate):
    return certificate.public_bytes(serialization.Encoding.DER)


def sign(key, challenge):
    return key.sign(challenge.message(), padding.PKCS1v15(), hashes.SHA256())


def card_certificate(pki, key, person, **validity):
    return pki.issue_user_auth_certificate(key.public_key(), person.birth_date, **validity)


def refusal(challenge, certificate_der, signature, purpose="consent", **kwargs):
    with pytest.raises(HomeConsentError) as caught:
        verify_card_authentication(challenge.nonce, certificate_der, signature, purpose, **kwargs)
    return caught.value


# --- happy path -------------------------------------------------------------------------------
def test_a_registered_card_answering_its_challenge_proves_its_person(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    registered = do_register_card_certificate(person, certificate)
    Person.objects.create(name="別人", name_kana="ベツジン", sex="1", birth_date=datetime.date(1950, 1, 1))
    challenge = issue_challenge("consent", institution, ["qualification", "medication"], kind="home_visit")

    result = verify_card_authentication(
        challenge.nonce, der(certificate), sign(card_key, challenge), "consent"
    )

    assert result.person == person
    assert result.card_certificate == registered
    challenge.refresh_from_db()
    assert challenge.used_at is not None and challenge.outcome == "verified"
    assert challenge.card_certificate == registered


def test_a_virtual_card_issued_by_the_test_pki_answers_a_challenge_end_to_end(
    pki, settings, tmp_path, person, institution
):
    settings.JPKI_PKI_DIR = pki.directory
    issued = issue_virtual_card(person, "2580", tmp_path / "cards")
    card = VirtualJPKICard.load(issued.path)
    challenge = issue_challenge("consent", institution, ["qualification", "medication"], kind="home_visit")

    certificate, signature = card_answer(card, challenge.digest_info(), "2580")
    result = verify_card_authentication(challenge.nonce, certificate, signature, "consent")

    assert result.person == person
    assert result.card_certificate == issued.card_certificate
    assert len(signature) == 256


def test_the_challenge_can_be_named_by_id_or_raw_nonce(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    by_id = issue_challenge("consent", institution, ["qualification"])
    by_bytes = issue_challenge("consent", institution, ["qualification"])

    assert (
        verify_card_authentication(by_id.pk, der(certificate), sign(card_key, by_id), "consent").person
        == person
    )
    result = verify_card_authentication(
        by_bytes.nonce_bytes, der(certificate), sign(card_key, by_bytes), "consent"
    )
    assert result.challenge == by_bytes


def test_the_message_binds_every_field_and_the_card_signs_its_digest_info(pki, institution):
    challenge = issue_challenge(
        "consent",
        institution,
        ["medication", "qualification"],
        kind="telehealth",
        visit_date=datetime.date(2026, 12, 1),
    )

    message = challenge.message()

    assert message.startswith(b'{"details":{"visit_date":"2026-12-01"},"expires_at":"')
    assert b'"format":"homeconsent-card-challenge",' in message  # version 2: what the reader bridge signs
    assert f'"institution":"{institution.code}","items":["medication","qualification"]'.encode() in message
    assert f'"nonce":"{challenge.nonce}","origin":"","purpose":"consent","v":2}}'.encode() in message
    assert len(challenge.nonce_bytes) == 32
    assert challenge.digest_info() == DIGEST_INFO_SHA256 + hashlib.sha256(message).digest()
    other = issue_challenge(
        "consent", institution, ["medication"], kind="telehealth", visit_date=datetime.date(2026, 12, 1)
    )
    assert other.digest_info() != challenge.digest_info()


def test_a_signature_over_another_challenge_is_refused(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    other = Institution.objects.create(code=with_check_digit("131234568"), name="別の医院")
    meant = issue_challenge("consent", other, ["qualification", "medication"])
    presented = issue_challenge("consent", institution, ["qualification", "medication"])

    error = refusal(presented, der(certificate), sign(card_key, meant))

    assert error.code == "signature_invalid"


# --- refusals from the certificate and the signature -----------------------------------------
def test_a_flipped_signature_byte_is_signature_invalid(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    signature = bytearray(sign(card_key, challenge))
    signature[100] ^= 0x01

    error = refusal(challenge, der(certificate), bytes(signature))

    assert error.code == "signature_invalid"
    assert "最初から" in error.message("ja") and "start again" in error.message("en")


def test_a_signature_by_another_key_is_signature_invalid(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert refusal(challenge, der(certificate), sign(stranger, challenge)).code == "signature_invalid"


def test_garbage_instead_of_a_certificate_is_malformed_certificate(pki, card_key, institution, db):
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert (
        refusal(challenge, b"\x30\x82\x03\x00" + b"\x00" * 40, sign(card_key, challenge)).code
        == "malformed_certificate"
    )


def test_a_truncated_certificate_is_malformed_certificate(pki, card_key, person, institution):
    certificate = der(card_certificate(pki, card_key, person))
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, certificate[:-20], sign(card_key, challenge)).code == "malformed_certificate"


def test_a_certificate_from_an_untrusted_pki_is_unknown_issuer(pki, tmp_path, card_key, person, institution):
    # Same subject as our root, different key: only the signature tells them apart.
    impostor = TestPKI(tmp_path / "impostor").init()
    assert impostor.root_certificate.subject == pki.root_certificate.subject
    certificate = card_certificate(impostor, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])

    error = refusal(challenge, der(certificate), sign(card_key, challenge))

    assert error.code == "unknown_issuer"


def test_the_root_itself_is_not_a_card_certificate(pki, institution, db):
    challenge = issue_challenge("consent", institution, ["qualification"])
    root_key = pki._key()

    assert refusal(challenge, pki.root_certificate_der, sign(root_key, challenge)).code == "unknown_issuer"


def test_an_expired_certificate_is_certificate_expired(pki, card_key, person, institution):
    now = datetime.datetime.now(UTC)
    certificate = card_certificate(
        pki,
        card_key,
        person,
        not_before=now - datetime.timedelta(days=5 * 365),
        not_after=now - datetime.timedelta(days=1),
    )
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])

    error = refusal(challenge, der(certificate), sign(card_key, challenge))

    assert error.code == "certificate_expired"
    assert "市区町村" in error.message("ja") and "municipality" in error.message("en")


def test_a_future_certificate_is_certificate_not_yet_valid(pki, card_key, person, institution):
    now = datetime.datetime.now(UTC)
    certificate = card_certificate(
        pki,
        card_key,
        person,
        not_before=now + datetime.timedelta(hours=1),
        not_after=now + datetime.timedelta(days=365),
    )
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "certificate_not_yet_valid"


def test_a_revoked_certificate_is_certificate_revoked(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    first = issue_challenge("consent", institution, ["qualification"])
    verify_card_authentication(first.nonce, der(certificate), sign(card_key, first), "consent")

    pki.revoke(certificate.serial_number, "key_compromise")
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "certificate_revoked"


# --- revocation information that cannot be trusted is a refusal, never a pass ------------------
def test_a_missing_crl_is_crl_unavailable(pki, settings, tmp_path, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    settings.JPKI_CRLS = [tmp_path / "no-such-crl.pem"]
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "crl_unavailable"


def test_a_crl_signed_by_an_untrusted_key_is_crl_unavailable(
    pki, settings, tmp_path, card_key, person, institution
):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    impostor = TestPKI(tmp_path / "impostor").init()  # same issuer name, its CRL lists nothing
    settings.JPKI_CRLS = [impostor.crl_path]
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "crl_unavailable"


def test_a_stale_crl_is_crl_unavailable(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    after_next_update = pki.crl().next_update_utc + datetime.timedelta(seconds=1)
    challenge.expires_at = after_next_update + datetime.timedelta(minutes=5)  # only the CRL is stale
    challenge.save()

    error = refusal(challenge, der(certificate), sign(card_key, challenge), now=after_next_update)

    assert error.code == "crl_unavailable"


def test_a_replaced_crl_file_is_read_again(pki, settings, tmp_path, card_key, person, institution):
    own = TestPKI(tmp_path / "own").init()
    settings.JPKI_TRUST_ROOTS = [own.root_path]
    settings.JPKI_CRLS = [own.crl_path]
    certificate = card_certificate(own, card_key, person)
    do_register_card_certificate(person, certificate)
    first = issue_challenge("consent", institution, ["qualification"])
    verify_card_authentication(first.nonce, der(certificate), sign(card_key, first), "consent")

    own.revoke(certificate.serial_number)  # written to the same path
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "certificate_revoked"


def test_roots_and_crls_may_be_der_files(pki, settings, tmp_path, card_key, person, institution):
    (tmp_path / "root.der").write_bytes(pki.root_certificate_der)
    (tmp_path / "crl.der").write_bytes(pki.crl().public_bytes(serialization.Encoding.DER))
    settings.JPKI_TRUST_ROOTS = [tmp_path / "root.der"]
    settings.JPKI_CRLS = [tmp_path / "crl.der"]
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert (
        verify_card_authentication(
            challenge.nonce, der(certificate), sign(card_key, challenge), "consent"
        ).person
        == person
    )


# --- the card-certificate linkage -------------------------------------------------------------
def test_a_certificate_never_linked_is_card_not_registered(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    challenge = issue_challenge("consent", institution, ["qualification"])

    error = refusal(challenge, der(certificate), sign(card_key, challenge))

    assert error.code == "card_not_registered"
    assert "マイナポータル" in error.message("ja") and "Mynaportal" in error.message("en")


def test_a_certificate_linked_but_not_registered_for_insurance_use_is_card_not_registered(
    pki, card_key, person, institution
):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate, registered_for_insurance_use=False)
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "card_not_registered"


def test_a_linkage_marked_revoked_is_card_not_registered_even_before_the_crl_says_so(
    pki, card_key, person, institution
):
    certificate = card_certificate(pki, card_key, person)
    row = do_register_card_certificate(person, certificate)
    row.status = CardCertificateStatus.REVOKED
    row.save()
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "card_not_registered"


def test_a_renewed_certificate_keeps_the_registration_of_the_one_it_replaced(
    pki, card_key, person, institution
):
    old = do_register_card_certificate(person, card_certificate(pki, card_key, person))
    old.status = CardCertificateStatus.SUPERSEDED
    old.save()
    renewed_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    renewed = card_certificate(pki, renewed_key, person)
    do_register_card_certificate(person, renewed, registered_for_insurance_use=False, renewed_from=old)
    challenge = issue_challenge("consent", institution, ["qualification"])

    result = verify_card_authentication(
        challenge.nonce, der(renewed), sign(renewed_key, challenge), "consent"
    )

    assert result.person == person


def test_a_superseded_certificate_no_longer_proves_anyone(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    old = do_register_card_certificate(person, certificate)
    old.status = CardCertificateStatus.SUPERSEDED
    old.save()
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "card_not_registered"


# --- refusals from the challenge --------------------------------------------------------------
def test_an_unknown_challenge_is_challenge_unknown(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    signature = sign(card_key, challenge)
    nonce = challenge.nonce
    challenge.delete()

    with pytest.raises(HomeConsentError) as caught:
        verify_card_authentication(nonce, der(certificate), signature, "consent")
    assert caught.value.code == "challenge_unknown"
    with pytest.raises(HomeConsentError) as caught:
        verify_card_authentication("not-a-nonce", der(certificate), signature, "consent")
    assert caught.value.code == "challenge_unknown"


def test_a_challenge_of_another_purpose_is_purpose_mismatch_and_stays_usable(
    pki, card_key, person, institution
):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    signature = sign(card_key, challenge)

    assert refusal(challenge, der(certificate), signature, purpose="portal_login").code == "purpose_mismatch"
    assert (
        verify_card_authentication(challenge.nonce, der(certificate), signature, "consent").person == person
    )


def test_an_answer_after_the_expiry_is_challenge_expired(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])

    error = refusal(
        challenge,
        der(certificate),
        sign(card_key, challenge),
        now=challenge.expires_at + datetime.timedelta(seconds=1),
    )

    assert error.code == "challenge_expired"


def test_a_challenge_expires_after_the_configured_ttl(pki, settings, institution):
    settings.CARD_AUTH_CHALLENGE_TTL = datetime.timedelta(seconds=90)

    challenge = issue_challenge("consent", institution, ["qualification"])

    assert challenge.expires_at - challenge.created_at == datetime.timedelta(seconds=90)


def test_the_same_answer_twice_is_challenge_reused(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    signature = sign(card_key, challenge)
    verify_card_authentication(challenge.nonce, der(certificate), signature, "consent")

    assert refusal(challenge, der(certificate), signature).code == "challenge_reused"


def test_a_failed_answer_uses_the_challenge_up(pki, card_key, person, institution):
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    signature = sign(card_key, challenge)

    assert refusal(challenge, der(certificate), signature[:-1] + b"\x00").code == "signature_invalid"
    challenge.refresh_from_db()
    assert challenge.used_at is not None and challenge.outcome == "signature_invalid"
    assert refusal(challenge, der(certificate), signature).code == "challenge_reused"


# --- concurrency ------------------------------------------------------------------------------
def test_two_concurrent_answers_to_one_challenge_let_exactly_one_through(pki, card_key, transactional_db):
    # The test database is a WAL file (tests/settings.py): each thread answers over its own connection.
    person = Person.objects.create(
        name="佐藤 花子", name_kana="サトウ ハナコ", sex="2", birth_date=datetime.date(1948, 4, 2)
    )
    institution = Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    signature = sign(card_key, challenge)
    barrier = threading.Barrier(2)
    outcomes = []

    def answer():
        try:
            barrier.wait()
            outcomes.append(
                verify_card_authentication(challenge.nonce, der(certificate), signature, "consent").person
            )
        except HomeConsentError as error:
            outcomes.append(error.code)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=answer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes, key=str) == sorted([person, "challenge_reused"], key=str)
    assert CardAuthChallenge.objects.get(pk=challenge.pk).outcome == "verified"


# --- certificates the root signed that are still no card's user-authentication certificate ------
def root_signed(pki, public_key, *, key_usage=None):
    """A certificate from the trusted root, built by hand (the test PKI itself refuses to make these)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ODD")]))
        .issuer_name(pki.root_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if key_usage is not None:
        flags = dict.fromkeys(
            [
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ],
            False,
        )
        builder = builder.add_extension(x509.KeyUsage(**{**flags, **key_usage}), critical=True)
    return builder.sign(pki._key(), hashes.SHA256())


def test_a_root_signed_rsa_1024_key_is_unknown_issuer(pki, person, institution):
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    certificate = root_signed(pki, weak_key.public_key(), key_usage={"digital_signature": True})
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(weak_key, challenge)).code == "unknown_issuer"


def test_a_root_signed_certificate_not_for_digital_signature_is_unknown_issuer(
    pki, card_key, person, institution
):
    certificate = root_signed(pki, card_key.public_key(), key_usage={"key_encipherment": True})
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])

    assert refusal(challenge, der(certificate), sign(card_key, challenge)).code == "unknown_issuer"


def test_a_signature_over_a_sha1_digest_info_is_signature_invalid(pki, card_key, person, institution):
    # The card signs whatever DigestInfo the host gives it: one naming SHA-1 of the message is
    # refused, the verifier builds the SHA-256 DigestInfo itself.
    certificate = card_certificate(pki, card_key, person)
    do_register_card_certificate(person, certificate)
    challenge = issue_challenge("consent", institution, ["qualification"])
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    sha1_signature = card_key.sign(
        hashlib.sha1(challenge.message()).digest(), padding.PKCS1v15(), Prehashed(hashes.SHA1())
    )

    assert refusal(challenge, der(certificate), sha1_signature).code == "signature_invalid"
