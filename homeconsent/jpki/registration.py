"""健康保険証利用登録: linking a card's user-authentication certificate to a person.

The certificate names no one (the user-authentication certificate carries no name, address or
birth date), so registration needs two proofs together:

* the card: a signature over a registration challenge, checked like every card answer (trusted
  root, validity, CRL, RSASSA-PKCS1-v1_5/SHA-256 over the challenge message);
* identity: the person's insurance search keys (保険者番号・記号・番号・枝番) and birth date, which
  must name exactly one person with a qualification valid today.

A renewed certificate (a new certificate whose row has renewed_from pointing at a registered one)
keeps the registration without doing this again: resolve_card_certificate follows renewed_from.
Every refusal is coded; a success writes its access-log entry in the same transaction.
"""

from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils import timezone

from homeconsent.audit.services import record_access
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.registry.models import CardCertificate, CardCertificateStatus, Qualification
from homeconsent.registry.validation import clean_search_keys

from .verification import (
    fingerprint_sha256,
    issuer_name,
    resolve_card_certificate,
    serial_hex,
    verify_signed_message,
)

REGISTRATION_IDENTITY_MISMATCH = ErrorCode(
    "registration_identity_mismatch",
    "入力された保険証の情報と生年月日に一致する、現在有効な資格が見つかりませんでした。保険証（資格確認書）の記載を確かめてください。",
    "No current health insurance matches the numbers and birth date you entered. Please check them "
    "against your insurance card (or 資格確認書).",
)
REGISTRATION_AMBIGUOUS = ErrorCode(
    "registration_ambiguous",
    "入力された情報に一致する方が複数います。ご加入の医療保険者にお問い合わせください。",
    "More than one person matches what you entered. Please contact your health insurer.",
)
CARD_REGISTERED_TO_ANOTHER_PERSON = ErrorCode(
    "card_registered_to_another_person",
    "このマイナンバーカードは別の方の健康保険証として登録されています。ご加入の医療保険者にお問い合わせください。",
    "This My Number Card is registered for another person. Please contact your health insurer.",
)
ALREADY_REGISTERED = ErrorCode(
    "already_registered",
    "このマイナンバーカードは、すでに健康保険証として利用登録されています。",
    "This My Number Card is already registered for use as a health insurance card.",
)
CERTIFICATE_NOT_ACTIVE = ErrorCode(
    "certificate_not_active",
    "このカードの電子証明書は更新済みまたは失効しています。新しい電子証明書のカードでお手続きください。",
    "This card's certificate has been replaced or revoked. Please use the card with the new certificate.",
)

ITEM = "card_registration"


def new_card_certificate(person, certificate, *, registered_at=None, renewed_from=None) -> CardCertificate:
    """The linkage row of a card's certificate to `person`, keyed as the verifier looks it up (issuer
    in RFC 4514, serial in lower-case hex); registered for insurance use when `registered_at` is given."""
    return CardCertificate.objects.create(
        person=person,
        issuer=issuer_name(certificate),
        serial=serial_hex(certificate.serial_number),
        fingerprint_sha256=fingerprint_sha256(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        status=CardCertificateStatus.ACTIVE,
        registered_for_insurance_use=registered_at is not None,
        registered_at=registered_at,
        renewed_from=renewed_from,
        certificate_der=certificate.public_bytes(serialization.Encoding.DER),
    )


def _person_for_keys(keys, today):
    matches = {
        q.person_id: q
        for q in Qualification.objects.filter(
            insurer__number=keys.insurer_number,
            symbol=keys.symbol,
            number=keys.number,
            branch=keys.branch,
            person__birth_date=keys.birth_date,
        ).select_related("person")
        if q.is_valid_on(today)
    }
    if not matches:
        raise REGISTRATION_IDENTITY_MISMATCH()
    if len(matches) > 1:
        raise REGISTRATION_AMBIGUOUS()
    return next(iter(matches.values())).person


def register_card_for_insurance_use(
    message: bytes, certificate_der: bytes, signature: bytes, *,
    insurer_number, symbol, number, branch, birth_date, now=None,
) -> CardCertificate:  # fmt: skip
    """Register the card that signed `message` for the person the search keys name.

    `message` is the registration challenge's message; the caller has already used the challenge
    up (single use, expiry, purpose). Raises HomeConsentError (codes above, the verifier's, or
    RegistryValidationError for malformed keys).
    """
    now = now or timezone.now()
    certificate = verify_signed_message(message, certificate_der, signature, now=now)
    keys = clean_search_keys(insurer_number, symbol, number, branch, birth_date, today=timezone.localdate(now))
    with transaction.atomic():
        person = _person_for_keys(keys, timezone.localdate(now))
        row = (
            CardCertificate.objects.select_for_update()
            .filter(issuer=issuer_name(certificate), serial=serial_hex(certificate.serial_number))
            .first()
        )
        if row is not None:
            if row.fingerprint_sha256 != fingerprint_sha256(certificate):
                raise CARD_REGISTERED_TO_ANOTHER_PERSON()
            if row.person_id != person.pk:
                raise CARD_REGISTERED_TO_ANOTHER_PERSON()
            if row.status != CardCertificateStatus.ACTIVE:
                raise CERTIFICATE_NOT_ACTIVE()
            try:
                resolve_card_certificate(certificate)
            except HomeConsentError:  # not registered (itself or along renewed_from): register below
                pass
            else:
                raise ALREADY_REGISTERED()
            row.registered_for_insurance_use = True
            row.registered_at = now
            row.save(update_fields=["registered_for_insurance_use", "registered_at"])
        else:
            row = new_card_certificate(person, certificate, registered_at=now)
        record_access(
            actor_type="patient",
            actor_id=f"card:{row.serial}",
            person=person,
            items=[ITEM],
            basis="self",
            detail={"action": "register_for_insurance_use", "issuer": row.issuer, "serial": row.serial},
        )
    return row
