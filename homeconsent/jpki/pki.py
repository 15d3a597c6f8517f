"""The project's test PKI: a stand-in for J-LIS's user-authentication CA, shaped like the real one.

Root (self-signed RSA-2048, sha256WithRSAEncryption, ten years) → user-authentication end-entity
certificates (RSA-2048, SHA-256, no name or address, valid until the fifth birthday after issue,
digitalSignature only, a CRL distribution point) and a CRL signed by the root.

Everything lives in one directory (settings.JPKI_PKI_DIR, under var/, never committed):

    root.pem        the root certificate (what settings.JPKI_TRUST_ROOTS points at)
    root-key.pem    the root's private key, mode 0600
    crl.pem         the current CRL (what settings.JPKI_CRLS points at)
    state.json      CRL number and the revoked serials
    issued/         every issued certificate, <serial hex>.pem

Files are replaced atomically, so a verifier that re-reads them by mtime never sees half a file.
No real key is ever used: keys are generated here, at run time.
"""

import datetime
import fcntl
import json
import os
import secrets
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from homeconsent.dates import add_years

from .verification import serial_hex

JST = ZoneInfo("Asia/Tokyo")
ROOT_LIFETIME = datetime.timedelta(days=3652)
# The test CRL is re-signed by init() once half of this has passed (bin/setup, init_test_pki).
CRL_LIFETIME = datetime.timedelta(days=7)

ROOT_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication (test)"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "HomeConsent Test PKI"),
    ]
)
# Like the real roots, the distribution point is a directory name, not a URL: relying parties get
# the CRL by arrangement (here: settings.JPKI_CRLS), never by fetching it from the certificate.
CRL_DISTRIBUTION_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication (test)"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CRL Distribution Points"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "HomeConsent Test PKI"),
    ]
)

REVOCATION_REASONS = {flag.name: flag for flag in x509.ReasonFlags if flag.name not in {"remove_from_crl"}}


def fifth_birthday_after(issued_on: datetime.date, birth_date: datetime.date) -> datetime.date:
    """The fifth birthday strictly after the issue day (a 29 February birthday falls on 28 February)."""

    def birthday_in(year):
        return add_years(birth_date, year - birth_date.year)

    first_year = issued_on.year if birthday_in(issued_on.year) > issued_on else issued_on.year + 1
    return birthday_in(first_year + 4)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class TestPKI:
    """One test user-authentication CA kept in `directory`. Call init() before use."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory, *, crl_lifetime: datetime.timedelta = CRL_LIFETIME):
        self.directory = Path(directory)
        self.crl_lifetime = crl_lifetime
        self._root_key = None
        self._root_certificate = None

    # --- files ---------------------------------------------------------------------------------
    @property
    def root_path(self) -> Path:
        return self.directory / "root.pem"

    @property
    def root_key_path(self) -> Path:
        return self.directory / "root-key.pem"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.pem"

    @property
    def state_path(self) -> Path:
        return self.directory / "state.json"

    @property
    def issued_dir(self) -> Path:
        return self.directory / "issued"

    @contextmanager
    def _locked(self):
        # Issue, revoke and CRL signing from several processes (server, commands) must not interleave.
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_state(self) -> dict:
        if not self.state_path.exists():
            return {"crl_number": 0, "revoked": []}
        return json.loads(self.state_path.read_text())

    def _write_state(self, state: dict) -> None:
        _write_atomic(self.state_path, json.dumps(state, indent=1, sort_keys=True).encode())

    # --- set-up --------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.root_path.exists() and self.root_key_path.exists()

    def init(self) -> "TestPKI":
        """Create the root and an empty CRL if missing; otherwise re-sign the CRL once half stale."""
        with self._locked():
            if not self.exists():
                self._create_root()
                self._sign_crl(self._read_state())
            else:
                crl = self.crl() if self.crl_path.exists() else None
                if crl is None or crl.next_update_utc - _now() < self.crl_lifetime / 2:
                    self._sign_crl(self._read_state())
        return self

    def _create_root(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.issued_dir.mkdir(exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(ROOT_SUBJECT)
            .issuer_name(ROOT_SUBJECT)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + ROOT_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_atomic(self.root_key_path, key_pem, mode=0o600)
        _write_atomic(self.root_path, certificate.public_bytes(serialization.Encoding.PEM))
        self._root_key, self._root_certificate = key, certificate

    # --- the root ------------------------------------------------------------------------------
    @property
    def root_certificate(self) -> x509.Certificate:
        if self._root_certificate is None:
            self._root_certificate = x509.load_pem_x509_certificate(self.root_path.read_bytes())
        return self._root_certificate

    @property
    def root_certificate_der(self) -> bytes:
        return self.root_certificate.public_bytes(serialization.Encoding.DER)

    def _key(self) -> rsa.RSAPrivateKey:
        if self._root_key is None:
            self._root_key = serialization.load_pem_private_key(
                self.root_key_path.read_bytes(), password=None
            )
        return self._root_key

    # --- end-entity certificates --------------------------------------------------------------
    def issue_user_auth_certificate(
        self,
        public_key: rsa.RSAPublicKey,
        birth_date: datetime.date,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        *,
        card_expires_on: datetime.date | None = None,
    ) -> x509.Certificate:
        """A user-authentication certificate for the card holding `public_key`.

        Valid until the end of the fifth birthday after issue (JST), capped by the card's expiry and
        the root's. Tests pass explicit not_before / not_after to make expired or future certificates.
        """
        if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size != 2048:
            raise ValueError("a JPKI user-authentication key is RSA-2048")
        now = _now()
        not_before = not_before or now
        if not_after is None:
            last_day = fifth_birthday_after(not_before.astimezone(JST).date(), birth_date)
            if card_expires_on is not None:
                last_day = min(last_day, card_expires_on)
            not_after = datetime.datetime.combine(last_day, datetime.time(23, 59, 59), tzinfo=JST)
            not_after = min(not_after, self.root_certificate.not_valid_after_utc)
        serial = x509.random_serial_number()
        root = self.root_certificate
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                # No name or address: the subject only tells certificates apart.
                x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(16).upper()),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.DirectoryName(CRL_DISTRIBUTION_NAME)],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(self._key(), hashes.SHA256())
        )
        with self._locked():
            self.issued_dir.mkdir(exist_ok=True)
            _write_atomic(
                self.issued_dir / f"{serial_hex(serial)}.pem",
                certificate.public_bytes(serialization.Encoding.PEM),
            )
        return certificate

    # --- revocation ----------------------------------------------------------------------------
    def revoke(
        self, serial: int | str, reason: str | x509.ReasonFlags = "unspecified"
    ) -> x509.CertificateRevocationList:
        """Put `serial` (int or hex) on the CRL and re-sign it. Revoking twice keeps the first entry."""
        return self.revoke_all([serial], reason)

    def revoke_all(
        self, serials, reason: str | x509.ReasonFlags = "unspecified"
    ) -> x509.CertificateRevocationList:
        """Put every serial of `serials` on the CRL and re-sign it once."""
        numbers = [int(serial, 16) if isinstance(serial, str) else int(serial) for serial in serials]
        if isinstance(reason, str):
            if reason not in REVOCATION_REASONS:
                raise ValueError(f"unknown revocation reason {reason!r}; one of {sorted(REVOCATION_REASONS)}")
            reason = REVOCATION_REASONS[reason]
        with self._locked():
            state = self._read_state()
            revoked = {int(entry["serial"], 16) for entry in state["revoked"]}
            for number in numbers:
                if number not in revoked:
                    revoked.add(number)
                    state["revoked"].append(
                        {
                            "serial": serial_hex(number),
                            "revoked_at": _now().isoformat(),
                            "reason": reason.name,
                        }
                    )
            return self._sign_crl(state)

    def revoked_serials(self) -> set[int]:
        return {int(entry["serial"], 16) for entry in self._read_state()["revoked"]}

    def crl(self) -> x509.CertificateRevocationList:
        return x509.load_pem_x509_crl(self.crl_path.read_bytes())

    def refresh_crl(self) -> x509.CertificateRevocationList:
        with self._locked():
            return self._sign_crl(self._read_state())

    def _sign_crl(self, state: dict) -> x509.CertificateRevocationList:
        root = self.root_certificate
        now = _now()
        state["crl_number"] = state.get("crl_number", 0) + 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(root.subject)
            .last_update(now)
            .next_update(now + self.crl_lifetime)
            .add_extension(x509.CRLNumber(state["crl_number"]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()), critical=False
            )
        )
        for entry in state["revoked"]:
            revoked = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(entry["serial"], 16))
                .revocation_date(datetime.datetime.fromisoformat(entry["revoked_at"]))
            )
            if entry["reason"] != "unspecified":
                # RFC 5280: reasonCode "unspecified" should be left out rather than written.
                revoked = revoked.add_extension(
                    x509.CRLReason(x509.ReasonFlags[entry["reason"]]), critical=False
                )
            builder = builder.add_revoked_certificate(revoked.build())
        crl = builder.sign(self._key(), hashes.SHA256())
        _write_atomic(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))
        self._write_state(state)
        return crl


def do_register_card_certificate(
    person,
    certificate: x509.Certificate,
    *,
    registered_for_insurance_use: bool = True,
    renewed_from=None,
    by: str = "operator",
):
    """Link a card's user-authentication certificate to a person (健康保険証利用登録), as the test PKI
    does for the cards it issues (no card proof needed: it made the card). Logged as the operator's
    change about the person, in the same transaction."""
    from django.db import transaction
    from django.utils import timezone

    from homeconsent.audit.models import Action, ActorType, Basis
    from homeconsent.audit.services import record_access

    from .registration import new_card_certificate

    registered_at = timezone.now() if registered_for_insurance_use else None
    with transaction.atomic():
        row = new_card_certificate(
            person, certificate, registered_at=registered_at, renewed_from=renewed_from
        )
        record_access(
            actor_type=ActorType.OPERATOR,
            actor_id=by,
            person=person,
            items=["card_certificate"],
            basis=Basis.OPERATOR,
            detail={
                "action": Action.CARD_CERTIFICATE_REGISTERED,
                "issuer": row.issuer,
                "serial": row.serial,
                "registered_for_insurance_use": row.registered_for_insurance_use,
                "renewed_from": row.renewed_from.serial if row.renewed_from_id else None,
            },
        )
    return row


@dataclass(frozen=True)
class IssuedVirtualCard:
    path: Path
    card_certificate: object  # registry.CardCertificate


def issue_virtual_card(
    person, pin: str, cards_dir=None, *, pki: TestPKI | None = None, path=None
) -> IssuedVirtualCard:
    """A new virtual My Number card for `person`, registered for health-insurance use.

    The card gets a fresh RSA-2048 key and a user-authentication certificate from the test PKI
    (settings.JPKI_PKI_DIR unless `pki` is given); the card file goes to `path`, or into
    `cards_dir` (default settings.JPKI_CARDS_DIR). The card file and the linkage row come together:
    if registering fails, the file is removed. (If a caller's outer transaction rolls back later,
    the file stays, as a card whose certificate is not registered: it is refused as such.)
    """
    from django.conf import settings
    from django.db import transaction

    from .card import VirtualJPKICard, issue_card_file

    pki = pki or TestPKI(settings.JPKI_PKI_DIR).init()
    if path is None:
        cards_dir = Path(cards_dir or settings.JPKI_CARDS_DIR)
        cards_dir.mkdir(parents=True, exist_ok=True)
        path = cards_dir / f"card-{person.pk}-{secrets.token_hex(4)}.json"
    path = Path(path)
    with transaction.atomic():
        issue_card_file(pki, path, pin=pin, birth_date=person.birth_date, label=person.name)
        try:
            certificate = x509.load_der_x509_certificate(VirtualJPKICard.load(path).auth_cert_der)
            row = do_register_card_certificate(person, certificate)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return IssuedVirtualCard(path, row)


def do_revoke_card_certificate(
    serial, reason: str = "unspecified", *, pki: TestPKI | None = None, by: str = "operator"
) -> int:
    """Revoke a test-PKI certificate: on the CRL, and its linkage row marked revoked.

    `serial` is hex (as in registry.CardCertificate) or an int. Returns the number of linkage rows
    marked (0 for a certificate that was never registered: it is still put on the CRL). Each marked
    row is logged as the operator's change about its person, in the same transaction.
    """
    from django.conf import settings
    from django.db import transaction

    from homeconsent.audit.models import Action, ActorType, Basis
    from homeconsent.audit.services import record_access
    from homeconsent.registry.models import CardCertificate, CardCertificateStatus

    pki = pki or TestPKI(settings.JPKI_PKI_DIR).init()
    number = int(serial, 16) if isinstance(serial, str) else int(serial)
    with transaction.atomic():
        rows = list(
            CardCertificate.objects.select_for_update()
            .filter(issuer=pki.root_certificate.subject.rfc4514_string(), serial=serial_hex(number))
            .order_by("pk")
        )
        marked = CardCertificate.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=CardCertificateStatus.REVOKED
        )
        for row in rows:
            record_access(
                actor_type=ActorType.OPERATOR,
                actor_id=by,
                person=row.person_id,
                items=["card_certificate"],
                basis=Basis.OPERATOR,
                detail={
                    "action": Action.CARD_CERTIFICATE_REVOKED,
                    "issuer": row.issuer,
                    "serial": row.serial,
                    "reason": reason,
                },
            )
        pki.revoke(number, reason)  # a failure here rolls the rows and their log entries back
    return marked
