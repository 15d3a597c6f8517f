"""健康保険証利用登録: linking a card's user-authentication certificate to a person's insurance.

The certificate names no one (the user-authentication certificate carries no name, address or
birth date). In the real system J-LIS knows whose card a certificate is; here the linkage row
(registry.CardCertificate, created when the card is issued: pki.issue_virtual_card) plays that
part. Registration therefore needs:

* the card: a signature over a registration challenge, checked like every card answer (trusted
  root, validity, CRL, RSASSA-PKCS1-v1_5/SHA-256 over the challenge message);
* J-LIS's answer: the certificate's linkage row, active, naming its holder;
* the keys: the insurance search keys (保険者番号・記号・番号・枝番) and birth date, which must name
  THAT holder with a qualification valid today. The keys only confirm; they never choose the person.

A certificate unknown to the registry, or keys that do not name its holder (whether they name
someone else or no one), get the same refusal, so the answer never tells whether keys exist.
Signed attempts are limited per card certificate and per set of keys (REGISTRATION_LIMITS), so
keys cannot be guessed. A renewed certificate (its row's renewed_from points at a registered one)
keeps the registration without doing this again: resolve_card_certificate follows renewed_from.
Every refusal is coded; a success writes its access-log entry in the same transaction, and a refusal
of a card the registry knows is written (committed) on its holder's log, so the holder sees that
someone tried to register their card.
"""

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from homeconsent import ratelimit
from homeconsent.audit.models import Action, ActorType, Basis, Outcome
from homeconsent.audit.services import record_access
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.registry.models import CardCertificate, CardCertificateStatus, Qualification
from homeconsent.registry.validation import clean_search_keys

from .verification import (
    CARD_NOT_REGISTERED,
    VerifiedCertificate,
    fingerprint_sha256,
    issuer_name,
    resolve_card_certificate,
    serial_hex,
    verify_signed_message,
)

REGISTRATION_IDENTITY_MISMATCH = ErrorCode(
    "registration_identity_mismatch",
    "入力された保険証の情報が、このマイナンバーカードをお持ちの方の、現在有効な資格と一致しませんでした。"
    "ご本人のカードで、保険証（資格確認書）の保険者番号・記号・番号・枝番と生年月日を確かめてください。"
    "解決しない場合は、ご加入の医療保険者にお問い合わせください。",
    "The insurance details you entered do not match a current insurance of this My Number Card's holder. "
    "Please use your own card and check the insurer number, symbol, number, branch and birth date on your "
    "insurance card (or 資格確認書). If it still does not work, please ask your health insurer.",
)
REGISTRATION_RATE_LIMITED = ErrorCode(
    "registration_rate_limited",
    "登録の試行が多すぎるため、しばらく受け付けを止めています。{hours}時間ほどたってからもう一度お試しいただくか、"
    "ご加入の医療保険者にお問い合わせください。",
    "There have been too many registration attempts, so registration is paused. Please try again in about "
    "{hours} hours, or ask your health insurer.",
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


# Signed attempts per window, per card certificate and per set of keys (without the birth date,
# the part one would guess). Settings may override; 0 switches a limit off.
REGISTRATION_LIMITS = {"card": 5, "keys": 5}
REGISTRATION_WINDOW_SECONDS = 24 * 60 * 60
RATE_KEY_PREFIX = "card_registration"


def _count_attempt(certificate, keys) -> None:
    limits = {**REGISTRATION_LIMITS, **getattr(settings, "CARD_REGISTRATION_LIMITS", {})}
    window = int(getattr(settings, "CARD_REGISTRATION_WINDOW_SECONDS", REGISTRATION_WINDOW_SECONDS))
    counted = {
        "card": (f"{issuer_name(certificate)}#{serial_hex(certificate.serial_number)}", limits["card"]),
        "keys": ("|".join([keys.insurer_number, keys.symbol, keys.number, keys.branch]), limits["keys"]),
    }
    if ratelimit.count_and_check(RATE_KEY_PREFIX, counted, window):
        raise REGISTRATION_RATE_LIMITED(hours=max(1, -(-window // 3600)), retry_after=window)


def _keys_name_holder(person, keys, today) -> bool:
    """Whether the keys and birth date name `person` (the card's holder) with a qualification valid today."""
    if person.birth_date != keys.birth_date:
        return False
    return any(
        q.is_valid_on(today)
        for q in Qualification.objects.filter(
            person=person,
            insurer__number=keys.insurer_number,
            symbol=keys.symbol,
            number=keys.number,
            branch=keys.branch,
        )
    )


def _holders_row(certificate, *, lock=False) -> CardCertificate | None:
    """The registry's row of this very certificate (issuer, serial and fingerprint), if any."""
    rows = CardCertificate.objects.select_related("person")
    if lock:
        rows = rows.select_for_update()
    row = rows.filter(issuer=issuer_name(certificate), serial=serial_hex(certificate.serial_number)).first()
    return row if row is not None and row.fingerprint_sha256 == fingerprint_sha256(certificate) else None


def verify_card_to_register(message: bytes, certificate_der: bytes, signature: bytes, *, now=None):
    """A registration answer's card check (challenges.card_answer's card_check): the signature,
    certificate and CRL checks of every card answer; the card's registered row, or None while it is
    not registered for insurance use (what registering changes)."""
    certificate = verify_signed_message(message, certificate_der, signature, now=now)
    try:
        return VerifiedCertificate(certificate, resolve_card_certificate(certificate))
    except HomeConsentError as error:
        if error.code != CARD_NOT_REGISTERED.code:
            raise
        return VerifiedCertificate(certificate, None)


def do_record_registration_refusal(row: CardCertificate | None, refusal: HomeConsentError) -> None:
    """A refused registration of a known card, on its holder's access log (nobody's when unknown)."""
    if row is None:
        return
    record_access(  # one row: atomic on its own
        actor_type=ActorType.PATIENT,
        actor_id=f"card:{row.serial}",
        person=row.person,
        items=[ITEM],
        basis=Basis.SELF,
        outcome=Outcome.REFUSED,
        detail={
            "action": Action.REGISTER_FOR_INSURANCE_USE,
            "code": refusal.code,
            "issuer": row.issuer,
            "serial": row.serial,
        },
    )


def do_register_card_for_insurance_use(
    message: bytes,
    certificate_der: bytes,
    signature: bytes,
    *,
    insurer_number,
    symbol,
    number,
    branch,
    birth_date,
    now=None,
) -> CardCertificate:
    """Register the card that signed `message` for its holder, when the search keys name that holder.

    `message` is the registration challenge's message; the caller has already used the challenge
    up (single use, expiry, purpose). Raises HomeConsentError (codes above, the verifier's, or
    RegistryValidationError for malformed keys).
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    certificate = verify_signed_message(message, certificate_der, signature, now=now)
    keys = clean_search_keys(insurer_number, symbol, number, branch, birth_date, today=today)
    try:
        _count_attempt(certificate, keys)  # before any answer about the card or the keys
    except HomeConsentError as refusal:
        do_record_registration_refusal(_holders_row(certificate), refusal)
        raise
    refusal = None
    with transaction.atomic():
        row = _holders_row(certificate, lock=True)
        # Unknown to "J-LIS", or the same issuer and serial on another certificate: nobody's card here.
        if row is None:
            raise REGISTRATION_IDENTITY_MISMATCH()
        if row.status != CardCertificateStatus.ACTIVE:
            refusal = CERTIFICATE_NOT_ACTIVE()
        elif not _keys_name_holder(row.person, keys, today):
            refusal = REGISTRATION_IDENTITY_MISMATCH()
        else:
            try:
                resolve_card_certificate(certificate)
            except HomeConsentError:  # not registered (itself or along renewed_from): register below
                pass
            else:
                refusal = ALREADY_REGISTERED()
        if refusal is not None:
            # The card's holder sees that someone tried to register their card (the row is committed).
            do_record_registration_refusal(row, refusal)
        else:
            row.registered_for_insurance_use = True
            row.registered_at = now
            row.save(update_fields=["registered_for_insurance_use", "registered_at"])
            record_access(
                actor_type=ActorType.PATIENT,
                actor_id=f"card:{row.serial}",
                person=row.person,
                items=[ITEM],
                basis=Basis.SELF,
                detail={
                    "action": Action.REGISTER_FOR_INSURANCE_USE,
                    "issuer": row.issuer,
                    "serial": row.serial,
                },
            )
    if refusal is not None:
        raise refusal
    return row
