"""The paper eligibility certificate (資格確認書) path: an institution checks a patient who has no card
registered for insurance use with the search keys printed on the certificate (保険者番号, 記号, 番号,
枝番 and the birth date), without the card and without a consent.

Who may be checked this way follows who receives a 資格確認書 (docs/paper-certificate.md):
- a person with no card registered for insurance use: no active, unexpired user-authentication
  certificate registered for it (itself or along its renewals). A card whose certificate expired or
  was revoked no longer works as an insurance card, and the insurer sends a 資格確認書;
- every 後期高齢者医療 insured (法別番号 39) until 2026-07-31 (the interim rule: all of them received
  one, registered card or not), judged on the day looked up;
- anyone else has their card as insurance card: refused with paper_certificate_card_registered, the
  refusal written to their access log.

What answers is eligibility only (資格情報 with the elderly, specific-disease and 公費 certificates
that travel with it): no 限度額 and no medical information, both of which need the card's consent.
Every check that names a person writes its access-log row (basis paper_certificate) in the
transaction of the read; keys that match nobody are logged without a person, as the special
searches are. Checks are counted per staff member or client and per institution (a brake on
trying keys), like the special searches.
"""

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from homeconsent import ratelimit
from homeconsent.audit.models import Action, Basis, Outcome
from homeconsent.audit.services import record_access
from homeconsent.errors import ErrorCode, HomeConsentError

from .eligibility import EligibilityResult, Validity, resolve_by_keys
from .models import CardCertificate, CardCertificateStatus
from .validation import SearchKeys, clean_date

ITEM = "qualification"  # what this path shows: eligibility, never a medical item
KOUKI_LAW_NUMBER = "39"  # 後期高齢者医療's 法別番号, the first two digits of its insurer numbers
KOUKI_INTERIM_UNTIL = datetime.date(2026, 7, 31)
RATE_KEY_PREFIX = "homeconsent:paper-certificate-check"

NO_MATCH = ErrorCode(
    "paper_certificate_no_match",
    "この保険者番号・記号・番号・枝番と生年月日に当てはまる資格はありません。資格確認書の記載と一字ずつ照らし合わせてください。",
    "No qualification matches this insurer number, symbol, number, branch and birth date. Compare each "
    "one with the certificate.",
)
CARD_REGISTERED = ErrorCode(
    "paper_certificate_card_registered",
    "この方はマイナンバーカードを健康保険証として利用登録しています。資格確認書ではなく、カードで資格確認してください"
    "（カードの読み取りと同意、訪問診療・訪問看護の同意があれば再照会）。",
    "This person has registered their My Number card as health insurance card. Check their eligibility "
    "with the card instead of the paper certificate (a card read and consent, or a re-query under a "
    "home-visit consent).",
)
RATE_LIMITED = ErrorCode(
    "paper_certificate_rate_limited",
    "資格確認書による確認の回数が上限に達しました。{minutes}分ほど待ってからお試しください。",
    "Too many checks with paper certificates. Please wait about {minutes} minutes and try again.",
)


@dataclass
class PaperCertificateCheck:
    """One check's answer: eligibility by the certificate's keys (validity 1, 2, 3 or 5)."""

    keys: SearchKeys
    result: EligibilityResult
    at: datetime.datetime = field(default_factory=timezone.now)


def card_registered_for_insurance(person_id, *, now=None) -> bool:
    """Whether the person holds a card usable as insurance card: an active certificate, not past its
    validity, registered for insurance use itself or along renewed_from (a renewal keeps the
    registration, as jpki.verification.resolve_card_certificate reads it). One query."""
    now = now or timezone.now()
    rows = {
        pk: (status, not_after, registered, renewed_from)
        for pk, status, not_after, registered, renewed_from in CardCertificate.objects.filter(
            person_id=person_id
        ).values_list("pk", "status", "not_after", "registered_for_insurance_use", "renewed_from_id")
    }
    for status, not_after, registered, renewed_from in rows.values():
        if status != CardCertificateStatus.ACTIVE or not_after <= now:
            continue
        seen = set()
        while not registered and renewed_from in rows and renewed_from not in seen:
            seen.add(renewed_from)
            registered, renewed_from = rows[renewed_from][2], rows[renewed_from][3]
        if registered:
            return True
    return False


def issued_to(result: EligibilityResult, *, now=None) -> bool:
    """Whether the person the keys found is one a 資格確認書 is sent to (module docstring)."""
    insurer_number = result.qualification["InsurerNumber"] if result.qualification else ""
    if insurer_number.startswith(KOUKI_LAW_NUMBER) and len(insurer_number) == 8:
        if result.on <= KOUKI_INTERIM_UNTIL:
            return True
    return not card_registered_for_insurance(result.person_id, now=now)


def _rate_refusal(institution_code: str, actor_id: str) -> HomeConsentError | None:
    window = max(1, int(settings.PAPER_CERTIFICATE_CHECK_WINDOW.total_seconds()))
    limits = settings.PAPER_CERTIFICATE_CHECK_LIMITS
    counted = {
        "actor": (f"{institution_code}:{actor_id}", limits.get("actor", 0)),
        "institution": (institution_code, limits.get("institution", 0)),
    }
    if ratelimit.count_and_check(RATE_KEY_PREFIX, counted, window):
        return RATE_LIMITED(minutes=max(1, -(-window // 60)), retry_after=window)
    return None


def check_paper_certificate(
    *, actor_type: str, actor_id: str, institution_code: str, keys: SearchKeys, on=None, via: str = ""
) -> PaperCertificateCheck:
    """Eligibility on `on` (default today) by the keys printed on a 資格確認書, or a coded refusal:
    paper_certificate_rate_limited, paper_certificate_no_match (validity 4),
    paper_certificate_card_registered. A refusal's access-log row is committed before it is raised."""
    today = timezone.localdate()
    on = clean_date(on, "on", today=today) if on else today
    now = timezone.now()

    def log(person, outcome, **detail):
        record_access(
            actor_type=actor_type,
            actor_id=actor_id,
            institution_code=institution_code,
            person=person,
            items=[ITEM],
            basis=Basis.PAPER_CERTIFICATE,
            outcome=outcome,
            detail={
                "action": Action.PAPER_CERTIFICATE_CHECK,
                "read": "paper_certificate",
                "on": on.isoformat(),
                **({"via": via} if via else {}),
                **detail,
            },
        )

    error = None
    with transaction.atomic():
        error = _rate_refusal(institution_code, actor_id)
        if error is not None:
            log(None, Outcome.REFUSED, refusal=error.code)
        else:
            result = resolve_by_keys(keys, None, None, None, None, on)
            if result.validity == Validity.NONE:
                error = NO_MATCH()
                log(None, Outcome.NOT_FOUND, refusal=error.code)
            elif result.person is None:  # several persons match (5): nothing personal to show or log
                pass
            elif not issued_to(result, now=now):
                error = CARD_REGISTERED()
                log(result.person, Outcome.REFUSED, refusal=error.code)
            else:
                log(result.person, Outcome.OK, validity=int(result.validity))
    if error is not None:
        raise error
    return PaperCertificateCheck(keys, result, now)
