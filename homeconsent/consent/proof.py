"""The proof step: one home for every page that needs the patient's card (DESIGN.md, "The proof step").

A page names what the proof is for (its purpose) and what the proof must bind; this module issues
the single-use challenge for it (rate-limited per client), remembers it in the browser session, and
turns an authenticator's answer into a Proof: the person, plus the evidence of how they were proved.

    issue_for_page(request, slot, purpose, *, institution=None, consent_terms=None, rate_scopes=None,
                   **details) -> dict      (JSON for the page; raises HomeConsentError)
    acting_on_card_answer(request, slot, purpose, body, *, institution=None, **details)
                                           (with-block: the Proof, one transaction with what it writes)
    answer_card_registration(request, slot, body, register)   (card only)
    begin_with_app(request, slot, purpose, *, next_url, back_url, **issue kwargs) -> provider URL
    finish_with_app(request) -> next URL   (the provider's callback; raises relying_party.AppRefusal)
    answer_with_app(request, slot, purpose, *, institution=None, **details) -> Proof
    refusal(error, status=403) -> JsonResponse   (the one problem shape; 429 + Retry-After when rate-limited)

Authenticators behind it: challenge in, proved person (+ evidence) out.
- Authenticator.READER: the local reader bridge; the card signs the challenge's DigestInfo
  (challenges.card_answer).
- Authenticator.APP: an OpenID Connect authentication app (homeconsent/authapp): the ID token's nonce
  is derived from the same challenge (see nonce_for).

The stored challenge keeps the field names of its signed message (message v1: "purpose" and "kind"),
so signatures made before stay verifiable; a Purpose maps onto that pair (STORED_AS).
"""

import base64
import hashlib
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models, router, transaction
from django.http import JsonResponse
from django.utils import timezone, translation

from homeconsent.authapp import identity, relying_party
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.jpki.registration import (
    ALREADY_REGISTERED,
    do_record_registration_refusal,
    verify_card_to_register,
)

from .challenges import (
    CHALLENGE_EXPIRED,
    CHALLENGE_RATE_LIMITED,
    CHALLENGE_REUSED,
    PURPOSE_MISMATCH,
    VERIFIED,
    card_answer,
    challenge_for_page,
    check_issue_rate,
    client_ip,
    issue_challenge,
    read_card_answer,
)
from .models import CardAuthChallenge, ChallengePurpose

PROOF_ENDED = ErrorCode(
    "session_expired",
    "この確認手続きは終わっています。最初からやり直してください。",
    "This confirmation has ended. Please start again.",
)
ANSWER_UNREADABLE = ErrorCode(
    "bad_request",
    "カードからの応答を読み取れませんでした。もう一度お試しください。",
    "The answer from the card could not be read. Please try again.",
)


class Purpose(models.TextChoices):
    """What a proof is for. Each is its own name; an answer for one never serves another."""

    CONSENT = "consent", "同意の登録"
    INQUIRY = "inquiry", "同意の確認・取消"
    PORTAL_SIGNIN = "portal_signin", "ポータルへのログイン"
    PORTAL_CANCEL = "portal_cancel", "ポータルでの同意の取消"
    CARD_REGISTRATION = "card_registration", "健康保険証利用登録"


class Authenticator(models.TextChoices):
    """How the card and PIN were proved; named to the patient in the access history and console."""

    READER = "reader", "カードリーダー"
    APP = "app", "認証アプリ"


# Purpose -> (challenge.purpose, challenge.kind) as stored and signed. CONSENT's kind is the consent
# kind (home_visit, telehealth, …), set from the terms.
STORED_AS = {
    Purpose.INQUIRY: (ChallengePurpose.CONSENT, "inquiry"),
    Purpose.PORTAL_SIGNIN: (ChallengePurpose.PORTAL_LOGIN, ""),
    Purpose.PORTAL_CANCEL: (ChallengePurpose.PORTAL_LOGIN, "consent_cancel"),
    Purpose.CARD_REGISTRATION: (ChallengePurpose.PORTAL_LOGIN, "insurance_registration"),
}
# Card registration binds a card not yet linked to anyone: only the reader can prove it (the app
# route proves a person the registry already knows, so it cannot register a card for them).
CARD_ONLY = {Purpose.CARD_REGISTRATION}


def purpose_of(challenge: CardAuthChallenge) -> Purpose:
    for purpose, stored in STORED_AS.items():
        if (challenge.purpose, challenge.kind) == stored:
            return purpose
    if challenge.purpose == ChallengePurpose.CONSENT:
        return Purpose.CONSENT
    raise PURPOSE_MISMATCH()


@dataclass(frozen=True)
class Proof:
    """A proved person. The reader's evidence is the card's certificate and signature; the app's, the
    ID token and the provider key that signed it (evidence). The card fields are None/empty then."""

    person: object  # registry.Person
    challenge: CardAuthChallenge
    authenticator: str
    card_certificate: object = None  # registry.CardCertificate (reader route)
    signature: bytes = b""
    certificate_der: bytes = b""
    evidence: dict = field(default_factory=dict)

    @property
    def actor_id(self) -> str:
        """Who acted, as the access log names them: the card, or the app link; never a My Number."""
        if self.card_certificate is not None:
            return f"card:{self.card_certificate.serial}"
        return f"person:{self.person.pk}"


def check_binding(challenge: CardAuthChallenge, purpose, *, institution=None, **details) -> None:
    """What a proof must bind: the purpose, the institution when the page has one, and each detail
    the page names (for example the consent a cancellation is about). Else purpose_mismatch."""
    if purpose_of(challenge) != Purpose(purpose):
        raise PURPOSE_MISMATCH()
    if institution is not None and challenge.institution_id != institution.pk:
        raise PURPOSE_MISMATCH()
    for name, value in details.items():
        if challenge.details.get(name) != value:
            raise PURPOSE_MISMATCH()


def nonce_for(challenge: CardAuthChallenge) -> str:
    """The OpenID Connect nonce for a challenge: base64url(SHA-256(message)). It binds everything the
    card would sign (purpose, institution, kind, items, details, expiry and the random nonce), so an
    ID token for one proof cannot serve another."""
    return base64.urlsafe_b64encode(hashlib.sha256(challenge.message()).digest()).rstrip(b"=").decode()


def _session_key(slot: str) -> str:
    return f"proof.{slot}"


def _language():
    return (translation.get_language() or "ja")[:2]


def refusal(error: HomeConsentError, status=403) -> JsonResponse:
    """The JSON problem every card step reads: {"problem": code, "message": text in the page's language}."""
    if error.code == CHALLENGE_RATE_LIMITED.code:
        response = JsonResponse({"problem": error.code, "message": error.message(_language())}, status=429)
        response["Retry-After"] = str(error.params["retry_after"])
        return response
    return JsonResponse({"problem": error.code, "message": error.message(_language())}, status=status)


def issue(
    request, purpose, *, institution=None, draft=None, consent_terms=None, rate_scopes=None, **details
) -> CardAuthChallenge:
    """A fresh challenge for this page's purpose, counted against the issuing limits.

    Purpose CONSENT: the frozen draft's challenge (drafts.do_issue_draft_challenge), or, without a
    draft, consent_terms as services.issue_consent_challenge takes them (checked first, same codes as
    registration). Raises HomeConsentError.
    """
    purpose = Purpose(purpose)
    if request.session.session_key is None:
        request.session.save()  # so a per-session limit applies from the first attempt
    # A public endpoint that writes a row: limited per client, per browser session and any scope given.
    check_issue_rate(client_ip(request), session=request.session.session_key, **(rate_scopes or {}))
    if purpose == Purpose.CONSENT:
        from . import drafts, services  # they import challenges; this keeps the import one-way at load

        if draft is not None:
            return drafts.do_issue_draft_challenge(draft)
        return services.issue_consent_challenge(institution, **consent_terms)
    stored_purpose, kind = STORED_AS[purpose]
    return issue_challenge(stored_purpose, institution, [], kind=kind, **details)


def remember(request, slot: str, issued: CardAuthChallenge) -> None:
    """The one challenge this browser session may answer on this page (slot); a new one replaces it."""
    request.session[_session_key(slot)] = issued.pk


def take(request, slot: str, challenge_id=None):
    """The challenge this session was given for slot, used up here (answered once); PROOF_ENDED if
    there is none, or the answer names another one."""
    remembered = request.session.pop(_session_key(slot), None)
    if remembered is None or (challenge_id is not None and challenge_id != remembered):
        raise PROOF_ENDED()
    return remembered


def issue_for_page(request, slot, purpose, **kwargs) -> dict:
    """issue() + remember(): what the page's card step hands to the reader bridge (or the app route)."""
    issued = issue(request, purpose, **kwargs)
    remember(request, slot, issued)
    return challenge_for_page(issued, request)  # bound to this page's origin (the bridge checks it)


@contextmanager
def acting_on_card_answer(request, slot, purpose, body: bytes, *, institution=None, **details):
    """The reader route's answer: certificate + signature over the challenge this session was given.
    The with-block gets the Proof inside the transaction that uses the challenge up, so the answer
    and what the block writes (a consent, a cancellation, a sign-in's log row) commit together, once
    (challenges.card_answer: a refusal, the block's too, still keeps the challenge used).

    Codes: bad_request (unreadable), session_expired (not this session's challenge), then those of
    challenges.card_answer, then purpose_mismatch (see check_binding).
    """
    challenge_id, certificate, signature, stored_purpose = _taken_answer(request, slot, purpose, body)
    with card_answer(challenge_id, certificate, signature, stored_purpose) as verified:
        check_binding(verified.challenge, purpose, institution=institution, **details)
        yield _card_proof(verified)


def _taken_answer(request, slot, purpose, body: bytes):
    try:
        challenge_id, certificate, signature = read_card_answer(body)
    except ValueError:
        raise ANSWER_UNREADABLE() from None
    take(request, slot, challenge_id)
    stored_purpose = STORED_AS.get(Purpose(purpose), (ChallengePurpose.CONSENT, None))[0]
    return challenge_id, certificate, signature, stored_purpose


def _card_proof(verified) -> Proof:
    return Proof(
        person=verified.person,
        challenge=verified.challenge,
        authenticator=Authenticator.READER,
        card_certificate=verified.card_certificate,
        signature=verified.signature,
        certificate_der=verified.certificate_der,
    )


def answer_card_registration(request, slot, body: bytes, register) -> None:
    """Card registration's answer (reader only), checked and registered in one transaction: the
    signature, certificate and CRL checks must pass with only the card's link to a person missing;
    then register(message, certificate, signature) links it. A card already linked is refused
    (already_registered, from register's module). Refusals are written on the card holder's log
    (register's and already_registered): they commit with the challenge's use; anything else raised
    rolls back what was written, and the challenge stays used."""
    challenge_id, certificate, signature, stored_purpose = _taken_answer(
        request, slot, Purpose.CARD_REGISTRATION, body
    )
    refused = None
    with card_answer(
        challenge_id, certificate, signature, stored_purpose, card_check=verify_card_to_register
    ) as verified:
        check_binding(verified.challenge, Purpose.CARD_REGISTRATION)
        if verified.card_certificate is not None:
            refused = ALREADY_REGISTERED()
            do_record_registration_refusal(verified.card_certificate, refused)  # on the holder's log
        else:
            try:
                register(verified.challenge.message(), certificate, signature)
            except HomeConsentError as error:  # register wrote it on the holder's log: keep that
                refused = error
    if refused is not None:
        raise refused


# --- the authentication app (phone route) ---------------------------------------------------------
CARD_ONLY_PURPOSE = ErrorCode(
    "card_only",
    "健康保険証利用登録は、カードリーダーでカードを読み取る方法だけで行えます。",
    "Registering your card for health-insurance use needs a card reader: the authentication app cannot do it.",
)


def _app_result_key(slot: str) -> str:
    return f"proof.app.{slot}"


def app_available() -> bool:
    return relying_party.enabled()


def begin_with_app(request, slot, purpose, *, next_url, back_url, **issue_kwargs) -> str:
    """Start the app route: a challenge for this page, and the provider URL to send the browser to.
    The OpenID nonce is nonce_for(challenge). Raises HomeConsentError or relying_party.AppRefusal."""
    if Purpose(purpose) in CARD_ONLY:
        raise CARD_ONLY_PURPOSE()
    issued = issue(request, purpose, **issue_kwargs)
    remember(request, slot, issued)
    return relying_party.begin(
        request, nonce=nonce_for(issued), slot=slot, next_url=next_url, back_url=back_url
    )


def _use_up(challenge_id, outcome, *, nonce=None, back=""):
    """The app route's single use of the challenge (as challenges.card_answer does for the card)."""
    now = timezone.now()
    with transaction.atomic(using=router.db_for_write(CardAuthChallenge)):
        challenge = CardAuthChallenge.objects.select_for_update(of=("self",)).filter(pk=challenge_id).first()
        if challenge is None:
            raise relying_party.AppRefusal(PROOF_ENDED, back)
        if challenge.used_at is not None:
            raise relying_party.AppRefusal(CHALLENGE_REUSED, back)
        if nonce is not None and nonce != nonce_for(challenge):
            outcome = relying_party.APP_NONCE_MISMATCH.code
        challenge.used_at = now
        challenge.outcome = outcome if now < challenge.expires_at else CHALLENGE_EXPIRED.code
        challenge.save(update_fields=["used_at", "outcome"])
    if challenge.outcome == relying_party.APP_NONCE_MISMATCH.code:
        raise relying_party.AppRefusal(relying_party.APP_NONCE_MISMATCH, back)
    if challenge.outcome == CHALLENGE_EXPIRED.code:
        raise relying_party.AppRefusal(CHALLENGE_EXPIRED, back)
    return challenge


def finish_with_app(request) -> str:
    """The provider's callback: verify it, use up the page's challenge, find the person. Returns the
    page's next URL (its own view then calls answer_with_app). Raises relying_party.AppRefusal; a
    refusal stores no consent, no link and no session."""
    pending = relying_party.pending_for(request)
    slot, back = pending["slot"], pending["back"]
    challenge_id = request.session.get(_session_key(slot))
    if challenge_id is None:
        raise relying_party.AppRefusal(PROOF_ENDED, back)
    try:
        result = relying_party.finish(request, pending)
    except relying_party.AppRefusal as refused:
        request.session.pop(_session_key(slot), None)
        _use_up(challenge_id, refused.error.code, back=back)
        raise
    # The token's nonce was checked against the one sent; it must also be this page's challenge.
    _use_up(challenge_id, VERIFIED, nonce=result.nonce, back=back)
    try:
        person = identity.do_resolve_person(result.issuer, result.subject, result.userinfo)
    except HomeConsentError as error:
        request.session.pop(_session_key(slot), None)
        CardAuthChallenge.objects.filter(pk=challenge_id).update(outcome=error.code)
        raise relying_party.AppRefusal(error, back) from None
    request.session[_app_result_key(slot)] = {
        "challenge": challenge_id,
        "person": person.pk,
        "id_token": result.id_token,
        "provider_key": result.provider_key,
        "issuer": result.issuer,
        "subject": result.subject,
    }
    return pending["next"]


def answer_with_app(request, slot, purpose, *, institution=None, **details) -> Proof:
    """The app route's answer for this page, after finish_with_app: the Proof, bound like a card's."""
    from homeconsent.registry.models import Person

    result = request.session.pop(_app_result_key(slot), None)
    if result is None:
        raise PROOF_ENDED()
    take(request, slot, result["challenge"])
    challenge = CardAuthChallenge.objects.select_related("institution").get(pk=result["challenge"])
    check_binding(challenge, purpose, institution=institution, **details)
    return Proof(
        person=Person.objects.get(pk=result["person"]),
        challenge=challenge,
        authenticator=Authenticator.APP,
        evidence={
            "id_token": result["id_token"],
            "provider_key": result["provider_key"],
            "issuer": result["issuer"],
        },
    )


def app_form_targets() -> list:
    """The provider's origin, for form-action: starting the app route is a form post we redirect there."""
    if not relying_party.enabled():
        return []
    parts = urllib.parse.urlsplit(settings.AUTH_APP_ISSUER)
    return [f"{parts.scheme}://{parts.netloc}"]
