"""Server-side verification of a card authentication: was this message signed by a genuine,
current, unrevoked JPKI user-authentication certificate, and whose card is it?

Two steps, kept apart so each is usable alone:

* verify_signed_message(message, certificate_der, signature): pure crypto against the configured
  trust store (settings.JPKI_TRUST_ROOTS, settings.JPKI_CRLS). Certificate parsed; an end entity
  for digital signature with an RSA key of 2048 bits or more, issued by a trusted root; inside its validity period; not on a current CRL signed by that root; the signature
  is RSASSA-PKCS1-v1_5 with SHA-256 over the message (the card signs DigestInfo(SHA-256(message))).
* resolve_card_certificate(certificate): the person, through registry.CardCertificate by issuer
  and serial (健康保険証利用登録), never through the My Number.

Every refusal is a HomeConsentError with one of the codes below. Revocation status that cannot be
established (no CRL for the issuer, a CRL not signed by the root, a stale CRL) is a refusal of its
own (crl_unavailable), never a silent pass.
"""

import datetime
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.db import connections, router

from homeconsent.errors import ErrorCode
from homeconsent.sqlrows import Columns, per_connection, prepared_cursor, table

log = logging.getLogger(__name__)

MIN_RSA_BITS = 2048

MALFORMED_CERTIFICATE = ErrorCode(
    "malformed_certificate",
    "カードから読み取った電子証明書を確認できませんでした。カードをかざし直して、もう一度お試しください。",
    "The certificate read from the card could not be understood. Hold the card to the reader again and retry.",
)
UNKNOWN_ISSUER = ErrorCode(
    "unknown_issuer",
    "このカードの電子証明書は、利用者証明用電子証明書として確認できませんでした。マイナンバーカードをお使いください。",
    "This card's certificate is not a JPKI user-authentication certificate we trust. Please use your "
    "My Number Card.",
)
CERTIFICATE_EXPIRED = ErrorCode(
    "certificate_expired",
    "マイナンバーカードの利用者証明用電子証明書の有効期限が切れています。お住まいの市区町村の窓口で更新してください。",
    "The user-authentication certificate on your My Number Card has expired. Renew it at your "
    "municipality's office.",
)
CERTIFICATE_NOT_YET_VALID = ErrorCode(
    "certificate_not_yet_valid",
    "マイナンバーカードの電子証明書はまだ有効になっていません。時間をおいてもう一度お試しください。",
    "The certificate on your My Number Card is not valid yet. Please try again later.",
)
CERTIFICATE_REVOKED = ErrorCode(
    "certificate_revoked",
    "マイナンバーカードの利用者証明用電子証明書は失効しています。お住まいの市区町村の窓口で再発行の手続きをしてください。",
    "The user-authentication certificate on your My Number Card has been revoked. Have it reissued at "
    "your municipality's office.",
)
CRL_UNAVAILABLE = ErrorCode(
    "crl_unavailable",
    "電子証明書の失効確認ができないため、現在カードでの確認を受け付けられません。時間をおいてもう一度お試しください。",
    "We cannot check certificate revocation right now, so card authentication is unavailable. "
    "Please try again later.",
)
SIGNATURE_INVALID = ErrorCode(
    "signature_invalid",
    "カードの署名を確認できませんでした。最初からもう一度お試しください。",
    "The card's signature could not be verified. Please start again from the beginning.",
)
CARD_NOT_REGISTERED = ErrorCode(
    "card_not_registered",
    "このマイナンバーカードは健康保険証としての利用登録がされていません。マイナポータルで利用登録をしてください。",
    "This My Number Card is not registered for use as a health insurance card. Register it on "
    "Mynaportal (マイナポータル).",
)


# --- how a certificate is named in registry.CardCertificate ---------------------------------
def serial_hex(serial: int) -> str:
    """How a certificate serial is written in registry.CardCertificate: lower-case hex, no padding."""
    return format(serial, "x")


def issuer_name(certificate: x509.Certificate) -> str:
    """How a certificate's issuer is written in registry.CardCertificate (RFC 4514)."""
    return certificate.issuer.rfc4514_string()


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


# --- trust store: parsed files, re-read when a file changes ----------------------------------
class _FileCache:
    """Parsed contents of files, keyed by path and (mtime, size): a replaced file is re-read."""

    def __init__(self, parse):
        self._parse = parse
        self._entries = {}
        self._lock = threading.Lock()

    def get(self, path: Path):
        try:
            stat = path.stat()
        except FileNotFoundError:
            return []
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            entry = self._entries.get(path)
            if entry and entry[0] == stamp:
                return entry[1]
        try:
            parsed = self._parse(path.read_bytes())
        except (ValueError, OSError):
            log.warning("unreadable trust-store file %s", path)
            parsed = []
        with self._lock:
            self._entries[path] = (stamp, parsed)
        return parsed


def _parse_certificates(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


class _ParsedCrl:
    """A CRL as read from its file, with what every verification asks of it worked out once: its
    revoked serials as a set, and whether a root signed it. (The real CRL is long: checking its
    signature and scanning it on every card answer cost ~16 ms at 40,000 entries.)"""

    def __init__(self, crl: x509.CertificateRevocationList):
        self.crl = crl
        self.revoked_serials = frozenset(entry.serial_number for entry in crl)
        self._signed_by: dict[bytes, bool] = {}

    def signed_by(self, root: x509.Certificate) -> bool:
        fingerprint = root.fingerprint(hashes.SHA256())
        if fingerprint not in self._signed_by:
            self._signed_by[fingerprint] = self.crl.is_signature_valid(root.public_key())
        return self._signed_by[fingerprint]


def _parse_crls(data: bytes) -> list[_ParsedCrl]:
    if b"-----BEGIN" in data:
        # A file may hold the CRLs of several roots (2015 and 2023 generations) one after another.
        blocks = data.split(b"-----END X509 CRL-----")
        crls = [
            x509.load_pem_x509_crl(block + b"-----END X509 CRL-----\n")
            for block in blocks
            if b"-----BEGIN" in block
        ]
    else:
        crls = [x509.load_der_x509_crl(data)]
    return [_ParsedCrl(crl) for crl in crls]


_roots = _FileCache(_parse_certificates)
_crls = _FileCache(_parse_crls)


def trusted_roots() -> list[x509.Certificate]:
    return [root for path in settings.JPKI_TRUST_ROOTS for root in _roots.get(Path(path))]


def current_crls() -> list[_ParsedCrl]:
    return [crl for path in settings.JPKI_CRLS for crl in _crls.get(Path(path))]


# --- the checks ------------------------------------------------------------------------------
def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _issuing_root(certificate: x509.Certificate, now: datetime.datetime) -> x509.Certificate:
    # Even from a trusted root, only the user-authentication profile proves a card: an end entity,
    # for digital signature, with an RSA key of at least 2048 bits.
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise UNKNOWN_ISSUER()  # a CA certificate is not a card's certificate
    key_usage = _extension(certificate, x509.KeyUsage)
    if (
        key_usage is None
        or not key_usage.digital_signature
        or certificate.public_key().key_size < MIN_RSA_BITS
    ):
        raise UNKNOWN_ISSUER()
    for root in trusted_roots():
        if root.subject != certificate.issuer:
            continue
        if not root.not_valid_before_utc <= now <= root.not_valid_after_utc:
            continue
        try:
            certificate.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return root
    raise UNKNOWN_ISSUER()


def _extension(certificate, kind):
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_revocation(certificate: x509.Certificate, root: x509.Certificate, now: datetime.datetime) -> None:
    usable = []
    for parsed in current_crls():
        crl = parsed.crl
        if crl.issuer != root.subject or not parsed.signed_by(root):
            continue
        next_update = crl.next_update_utc
        if crl.last_update_utc > now or next_update is None or next_update <= now:
            continue
        usable.append(parsed)
    if not usable:
        log.error("no current CRL signed by %s", root.subject.rfc4514_string())
        raise CRL_UNAVAILABLE()
    if any(certificate.serial_number in parsed.revoked_serials for parsed in usable):
        raise CERTIFICATE_REVOKED()


def verify_certificate(certificate_der: bytes, *, now: datetime.datetime | None = None) -> x509.Certificate:
    """The certificate, if it is a current JPKI user-authentication certificate: chain, profile,
    validity, revocation. Without a signature this proves no card was present (a certificate read
    without the PIN: emergency viewing); verify_signed_message adds that proof."""
    now = now or _now()
    try:
        certificate = x509.load_der_x509_certificate(bytes(certificate_der))
        public_key = certificate.public_key()
        _ = certificate.extensions  # parsed lazily: a broken extension is a malformed certificate too
    except (ValueError, TypeError):
        raise MALFORMED_CERTIFICATE() from None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise MALFORMED_CERTIFICATE()
    root = _issuing_root(certificate, now)
    if now < certificate.not_valid_before_utc:
        raise CERTIFICATE_NOT_YET_VALID()
    if now > certificate.not_valid_after_utc:
        raise CERTIFICATE_EXPIRED()
    _check_revocation(certificate, root, now)
    return certificate


def verify_signed_message(
    message: bytes, certificate_der: bytes, signature: bytes, *, now: datetime.datetime | None = None
) -> x509.Certificate:
    """The certificate, if `signature` over `message` proves a current JPKI user-authentication card.

    `now` is the moment of verification (default: the present).
    """
    certificate = verify_certificate(certificate_der, now=now)
    public_key = certificate.public_key()
    try:
        public_key.verify(bytes(signature), bytes(message), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        raise SIGNATURE_INVALID() from None
    return certificate


def resolve_card_certificate(certificate: x509.Certificate):
    """The registry.CardCertificate (with its person) for a verified certificate.

    Refused as card_not_registered when the certificate is unknown, not active (revoked, or
    superseded by a renewal), or not registered for health-insurance use. A renewed certificate
    keeps the registration of the one it replaced: registration is looked for along renewed_from.
    """
    from homeconsent.registry.models import CardCertificateStatus

    row = _registered_card(issuer_name(certificate), serial_hex(certificate.serial_number))
    if row is None or row.status != CardCertificateStatus.ACTIVE:
        raise CARD_NOT_REGISTERED()
    if row.fingerprint_sha256 != fingerprint_sha256(certificate):
        # Same issuer and serial, different certificate: never accept it as this person's card.
        log.error("certificate %s #%s differs from the registered one", row.issuer, row.serial)
        raise CARD_NOT_REGISTERED()
    link, seen = row, set()
    while link is not None and link.pk not in seen:
        if link.registered_for_insurance_use:
            return row
        seen.add(link.pk)
        link = link.renewed_from
    raise CARD_NOT_REGISTERED()


@per_connection
def _card_sql(connection):
    """The statement of _registered_card and its two column sets."""
    from homeconsent.registry.models import CardCertificate, Person

    q = connection.ops.quote_name
    cards, persons = Columns(CardCertificate), Columns(Person)
    sql = (
        f"SELECT {cards.sql('c', connection)}, {persons.sql('p', connection)} "
        f"FROM {table(CardCertificate, connection)} c JOIN {table(Person, connection)} p "
        f"ON p.{q('id')} = c.{q('person_id')} WHERE c.{q('issuer')} = %s AND c.{q('serial')} = %s"
    )  # issuer and serial are unique together: one row at most
    return sql, cards, persons


def _registered_card(issuer: str, serial: str):
    """registry.CardCertificate by issuer and serial, with its person: one statement, written once
    and prepared (every card answer runs it; homeconsent.sqlrows says why not the ORM)."""
    from homeconsent.registry.models import CardCertificate

    connection = connections[router.db_for_read(CardCertificate)]
    sql, cards, persons = _card_sql(connection)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [issuer, serial])
        row = cursor.fetchone()
    if row is None:
        return None
    card = cards.instance(row, connection)
    CardCertificate.person.field.set_cached_value(card, persons.instance(row, connection, len(cards)))
    return card


@dataclass(frozen=True)
class VerifiedCertificate:
    certificate: x509.Certificate
    card_certificate: object  # registry.CardCertificate

    @property
    def person(self):
        return self.card_certificate.person


def verify_card_signature(
    message: bytes, certificate_der: bytes, signature: bytes, *, now: datetime.datetime | None = None
) -> VerifiedCertificate:
    """Both steps: the signature proves a card, and the card is registered to a person."""
    certificate = verify_signed_message(message, certificate_der, signature, now=now)
    return VerifiedCertificate(certificate, resolve_card_certificate(certificate))
