"""The test PKI: shaped like JPKI's user-authentication CA, checked by us and by OpenSSL."""

import datetime
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from django.core.management import call_command

from homeconsent.audit.models import AccessEvent
from homeconsent.jpki.card import VirtualJPKICard
from homeconsent.jpki.pki import (
    TestPKI,
    do_register_card_certificate,
    do_revoke_card_certificate,
    fifth_birthday_after,
    issue_virtual_card,
    serial_hex,
)
from homeconsent.registry.models import CardCertificate, CardCertificateStatus, Person

UTC = datetime.UTC
JST = datetime.timezone(datetime.timedelta(hours=9))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki")).init()


@pytest.fixture(scope="module")
def card_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def own_pki(tmp_path, settings):
    """A PKI of this test's own, configured as the site's test PKI and trust store."""
    settings.JPKI_PKI_DIR = tmp_path / "pki"
    settings.JPKI_TRUST_ROOTS = [settings.JPKI_PKI_DIR / "root.pem"]
    settings.JPKI_CRLS = [settings.JPKI_PKI_DIR / "crl.pem"]
    settings.JPKI_CARDS_DIR = tmp_path / "cards"
    return TestPKI(settings.JPKI_PKI_DIR).init()


@pytest.fixture
def person(db):
    return Person.objects.create(
        name="田中 一郎", name_kana="タナカ イチロウ", sex="1", birth_date=datetime.date(1941, 7, 15)
    )


def test_the_root_is_a_self_signed_rsa_2048_sha256_test_root_for_ten_years(pki):
    root = pki.root_certificate

    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    assert root.public_key().key_size == 2048
    assert root.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    units = [a.value for a in root.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    assert units == ["JPKI for user authentication (test)", "HomeConsent Test PKI"]
    assert root.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "JP"
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "JPKI"
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert datetime.timedelta(days=3650) <= lifetime <= datetime.timedelta(days=3654)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign


def test_the_root_key_is_readable_by_the_owner_only(pki):
    assert stat.S_IMODE(pki.root_key_path.stat().st_mode) == 0o600


def test_init_keeps_an_existing_root(pki):
    again = TestPKI(pki.directory).init()

    assert again.root_certificate == pki.root_certificate


def test_a_user_auth_certificate_has_no_name_signs_only_and_names_its_crl(pki, card_key):
    certificate = pki.issue_user_auth_certificate(card_key.public_key(), datetime.date(1941, 7, 15))

    certificate.verify_directly_issued_by(pki.root_certificate)
    assert certificate.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert certificate.public_key().public_numbers() == card_key.public_key().public_numbers()
    assert {a.oid for a in certificate.subject} == {NameOID.COUNTRY_NAME, NameOID.COMMON_NAME}
    assert certificate.serial_number > 0
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert isinstance(points[0].full_name[0], x509.DirectoryName)
    assert (pki.issued_dir / f"{serial_hex(certificate.serial_number)}.pem").exists()


def test_a_certificate_is_valid_until_the_end_of_the_fifth_birthday_after_issue(pki, card_key):
    issued = datetime.datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

    certificate = pki.issue_user_auth_certificate(
        card_key.public_key(), datetime.date(1941, 7, 15), not_before=issued
    )

    assert certificate.not_valid_after_utc.astimezone(JST) == datetime.datetime(
        2031, 7, 15, 23, 59, 59, tzinfo=JST
    )


def test_the_issue_day_is_the_day_in_japan(pki, card_key):
    # 16:00 UTC on 14 July is 01:00 on 15 July in Japan: issued on the birthday itself, so that
    # birthday does not count and the certificate runs a year longer than the UTC date would give.
    issued = datetime.datetime(2026, 7, 14, 16, 0, tzinfo=UTC)

    certificate = pki.issue_user_auth_certificate(
        card_key.public_key(), datetime.date(1941, 7, 15), not_before=issued
    )

    assert certificate.not_valid_after_utc.astimezone(JST) == datetime.datetime(
        2031, 7, 15, 23, 59, 59, tzinfo=JST
    )


def test_a_card_expiry_before_the_fifth_birthday_caps_the_certificate(pki, card_key):
    certificate = pki.issue_user_auth_certificate(
        card_key.public_key(), datetime.date(1941, 7, 15), card_expires_on=datetime.date(2029, 3, 31)
    )

    assert certificate.not_valid_after_utc.astimezone(JST).date() == datetime.date(2029, 3, 31)


@pytest.mark.parametrize(
    "issued_on, birth_date, fifth",
    [
        (datetime.date(2026, 11, 25), datetime.date(1941, 7, 15), datetime.date(2031, 7, 15)),
        (datetime.date(2026, 3, 1), datetime.date(1990, 12, 31), datetime.date(2030, 12, 31)),
        # issued on the birthday itself: that birthday is not "after issue"
        (datetime.date(2026, 7, 15), datetime.date(1941, 7, 15), datetime.date(2031, 7, 15)),
        (datetime.date(2026, 7, 14), datetime.date(1941, 7, 15), datetime.date(2030, 7, 15)),
        # born on 29 February: the birthday falls on 28 February in common years
        (datetime.date(2026, 1, 10), datetime.date(1948, 2, 29), datetime.date(2030, 2, 28)),
        (datetime.date(2027, 6, 1), datetime.date(1948, 2, 29), datetime.date(2032, 2, 29)),
    ],
)
def test_the_fifth_birthday_after_issue(issued_on, birth_date, fifth):
    assert fifth_birthday_after(issued_on, birth_date) == fifth


def test_only_rsa_2048_keys_are_certified(pki):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)

    with pytest.raises(ValueError):
        pki.issue_user_auth_certificate(small.public_key(), datetime.date(1941, 7, 15))


def test_revocation_re_signs_the_crl_with_the_serial_and_a_higher_number(tmp_path, card_key):
    pki = TestPKI(tmp_path / "pki").init()
    certificate = pki.issue_user_auth_certificate(card_key.public_key(), datetime.date(1941, 7, 15))
    before = pki.crl()

    pki.revoke(serial_hex(certificate.serial_number), "key_compromise")
    pki.revoke(certificate.serial_number, "superseded")  # a second revocation keeps the first entry

    crl = pki.crl()
    assert before.get_revoked_certificate_by_serial_number(certificate.serial_number) is None
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    assert len(list(crl)) == 1
    assert crl.is_signature_valid(pki.root_certificate.public_key())
    assert crl.issuer == pki.root_certificate.subject
    assert crl.next_update_utc > datetime.datetime.now(UTC)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    with pytest.raises(ValueError):
        pki.revoke(certificate.serial_number, "no such reason")


def test_revoke_all_puts_every_serial_on_one_new_crl(tmp_path):
    pki = TestPKI(tmp_path / "pki").init()
    pki.revoke(7)
    before = pki.crl().extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    crl = pki.revoke_all([7, "1f", 1000])

    assert sorted(entry.serial_number for entry in crl) == [7, 31, 1000]
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == before + 1


def test_init_re_signs_a_crl_that_is_half_stale(tmp_path):
    pki = TestPKI(tmp_path / "pki", crl_lifetime=datetime.timedelta(seconds=2)).init()
    first = pki.crl()

    TestPKI(tmp_path / "pki").init()  # default lifetime: two seconds left is less than half of it

    assert pki.crl().next_update_utc > first.next_update_utc


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_accepts_the_chain_and_the_crl_and_sees_a_revocation(tmp_path, card_key):
    pki = TestPKI(tmp_path / "pki").init()
    certificate = pki.issue_user_auth_certificate(card_key.public_key(), datetime.date(1941, 7, 15))
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    def openssl_verify():
        command = [
            "openssl",
            "verify",
            "-crl_check",
            "-CAfile",
            pki.root_path,
            "-CRLfile",
            pki.crl_path,
            leaf,
        ]
        return subprocess.run(command, capture_output=True, text=True)

    assert openssl_verify().returncode == 0
    pki.revoke(certificate.serial_number)
    result = openssl_verify()
    assert result.returncode != 0 and "revoked" in result.stdout + result.stderr


# --- virtual cards and the commands -----------------------------------------------------------
def test_issue_virtual_card_writes_a_card_and_registers_its_certificate(own_pki, person, tmp_path):
    issued = issue_virtual_card(person, "1234", tmp_path / "cards")

    card = VirtualJPKICard.load(issued.path)
    certificate = x509.load_der_x509_certificate(card.auth_cert_der)
    assert card.ca_cert_der == own_pki.root_certificate_der
    row = CardCertificate.objects.get(person=person)
    assert row == issued.card_certificate
    assert row.serial == serial_hex(certificate.serial_number)
    assert row.issuer == own_pki.root_certificate.subject.rfc4514_string()
    assert row.fingerprint_sha256 == certificate.fingerprint(hashes.SHA256()).hex()
    assert (
        row.status == CardCertificateStatus.ACTIVE and row.registered_for_insurance_use and row.registered_at
    )
    assert (row.not_before, row.not_after) == (
        certificate.not_valid_before_utc,
        certificate.not_valid_after_utc,
    )
    assert bytes(row.certificate_der) == card.auth_cert_der


def test_a_card_file_that_cannot_be_written_registers_nothing(own_pki, person, tmp_path):
    taken = tmp_path / "taken.json"
    taken.write_text("{}")

    with pytest.raises(FileExistsError):
        issue_virtual_card(person, "1234", path=taken)

    assert not CardCertificate.objects.exists()


def test_the_commands_issue_a_card_and_revoke_its_certificate(own_pki, person, tmp_path, capsys):
    call_command("init_test_pki")
    out = tmp_path / "demo.json"
    call_command("issue_virtual_card", "--person-id", str(person.pk), "--pin", "4321", "--out", str(out))
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    row = CardCertificate.objects.get(person=person)

    call_command("revoke_certificate", "--serial", row.serial.upper(), "--reason", "key_compromise")

    assert printed == str(out) and out.exists()
    row.refresh_from_db()
    assert row.status == CardCertificateStatus.REVOKED
    assert own_pki.crl().get_revoked_certificate_by_serial_number(int(row.serial, 16)) is not None


# --- the access log of linkage changes --------------------------------------------------------
def test_registering_a_card_certificate_is_logged_as_the_operators_change_about_the_person(
    pki, card_key, person
):
    certificate = pki.issue_user_auth_certificate(card_key.public_key(), person.birth_date)

    row = do_register_card_certificate(person, certificate)

    event = AccessEvent.objects.get(detail__action="card_certificate_registered")
    assert (event.person_id, event.actor_type, event.actor_id, event.basis) == (
        person.pk,
        "operator",
        "operator",
        "operator",
    )
    assert event.items == ["card_certificate"]
    assert event.detail["serial"] == row.serial and event.detail["issuer"] == row.issuer


def test_a_card_certificate_whose_log_entry_fails_is_not_registered(pki, card_key, person):
    certificate = pki.issue_user_auth_certificate(card_key.public_key(), person.birth_date)

    with pytest.raises(ValueError):
        do_register_card_certificate(person, certificate, by="")  # no actor: the entry is refused

    assert not CardCertificate.objects.exists() and not AccessEvent.objects.exists()


def test_issuing_a_virtual_card_logs_its_certificate_registration(own_pki, person, tmp_path):
    issued = issue_virtual_card(person, "1234", tmp_path / "cards")

    event = AccessEvent.objects.get(person_id=person.pk)
    assert event.detail["action"] == "card_certificate_registered"
    assert event.detail["serial"] == issued.card_certificate.serial


def test_revoking_a_card_certificate_is_logged_for_its_person(own_pki, person, tmp_path):
    row = issue_virtual_card(person, "1234", tmp_path / "cards").card_certificate

    marked = do_revoke_card_certificate(row.serial, "key_compromise", by="operator:yamada")

    assert marked == 1
    event = AccessEvent.objects.get(detail__action="card_certificate_revoked")
    assert (event.person_id, event.actor_type, event.actor_id, event.basis) == (
        person.pk,
        "operator",
        "operator:yamada",
        "operator",
    )
    assert event.items == ["card_certificate"]
    assert event.detail == {
        "action": "card_certificate_revoked",
        "issuer": row.issuer,
        "serial": row.serial,
        "reason": "key_compromise",
    }


class CrlThatCannotBeWritten(TestPKI):
    def revoke(self, serial, reason="unspecified"):
        raise OSError("CRL not writable")


def test_a_revocation_whose_crl_cannot_be_written_leaves_neither_mark_nor_log_entry(
    own_pki, person, tmp_path
):
    row = issue_virtual_card(person, "1234", tmp_path / "cards").card_certificate

    with pytest.raises(OSError):
        do_revoke_card_certificate(row.serial, pki=CrlThatCannotBeWritten(own_pki.directory))

    row.refresh_from_db()
    assert row.status == CardCertificateStatus.ACTIVE
    assert not AccessEvent.objects.filter(detail__action="card_certificate_revoked").exists()


def test_issue_virtual_card_refuses_a_pin_that_is_not_four_digits(own_pki, person):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("issue_virtual_card", "--person-id", str(person.pk), "--pin", "12345")
    assert not CardCertificate.objects.exists()
