"""Card-auth challenges: issue one, and verify the card's answer to it.

This is the card authenticator behind the seam "challenge in, proved person out" (DESIGN.md, the
card path, step 5): the page hands challenge.message() to the reader bridge, which checks that it is
a HomeConsent challenge for that page's origin and has the card sign its SHA-256 DigestInfo; the
bridge returns the card's certificate and signature, and card_answer() (or
verify_card_authentication(), when nothing is done with the proof in the same transaction) turns
them into a person, verifying the signature over the same message.

A challenge is used once, and *any* answer to it uses it up, including one that fails the
certificate or signature checks. Nothing honest is lost by that: a wrong PIN is refused by the card
and never reaches the server, and an expired, revoked or unregistered certificate fails again on any
retry; the page simply asks for a new challenge. What is gained: a challenge cannot be tried again
and again (other certificates, other signatures), and its outcome is final and recorded. Only
answers that do not reach the card checks leave it untouched: an unknown challenge, one presented
for another purpose (that request was not about this challenge at all), one already expired.
"""

import base64
import binascii
import datetime
import json
import math
import secrets
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from homeconsent import ratelimit
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.jpki.challenge_message import page_origin
from homeconsent.jpki.verification import verify_card_signature
from homeconsent.registry.models import Institution
from homeconsent.sqlrows import Columns, per_connection, prepared_cursor, table

from .models import CHALLENGE_MESSAGE_VERSION, CardAuthChallenge, ChallengePurpose

CHALLENGE_UNKNOWN = ErrorCode(
    "challenge_unknown",
    "この確認手続きは見つかりませんでした。最初からやり直してください。",
    "This confirmation could not be found. Please start again from the beginning.",
)
CHALLENGE_EXPIRED = ErrorCode(
    "challenge_expired",
    "確認の有効時間が過ぎました。最初からもう一度カードをかざしてください。",
    "The time for this confirmation has run out. Please start again and hold your card to the reader.",
)
CHALLENGE_REUSED = ErrorCode(
    "challenge_reused",
    "この確認手続きはすでに使われています。最初からやり直してください。",
    "This confirmation has already been used. Please start again from the beginning.",
)
PURPOSE_MISMATCH = ErrorCode(
    "purpose_mismatch",
    "この確認手続きは別の用途のものです。最初からやり直してください。",
    "This confirmation was made for something else. Please start again from the beginning.",
)

VERIFIED = "verified"


@dataclass(frozen=True)
class VerifiedCardAuth:
    person: object  # registry.Person (None: a card not yet registered, card registration's answer)
    card_certificate: object  # registry.CardCertificate (None then too)
    challenge: CardAuthChallenge
    signature: bytes
    certificate_der: bytes
    authenticator = "reader"

    @property
    def actor_id(self) -> str:
        return f"card:{self.card_certificate.serial}"


def _now():
    return timezone.now().replace(microsecond=0)


def _json_safe(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def issue_challenge(
    purpose, institution=None, items=(), *, kind="", now=None, **details
) -> CardAuthChallenge:
    """A fresh challenge: 32 random bytes, valid for settings.CARD_AUTH_CHALLENGE_TTL.

    details are further fields the signature must bind (JSON values; dates become ISO strings).
    """
    purpose = ChallengePurpose(purpose)
    if purpose != ChallengePurpose.PORTAL_LOGIN and institution is None:
        raise ValueError(f"a {purpose} challenge names the institution it is for")
    if isinstance(items, str):
        raise TypeError("items is a list of item names, not a string")
    now = (now or _now()).replace(microsecond=0)
    return CardAuthChallenge.objects.create(
        nonce=base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode(),
        purpose=purpose,
        institution=institution,
        items=sorted(set(items)),
        kind=kind,
        details=_json_safe(details),
        created_at=now,
        expires_at=now + settings.CARD_AUTH_CHALLENGE_TTL,
        message_version=CHALLENGE_MESSAGE_VERSION,
    )


# Every card answer reads its challenge and writes its one use: both statements are written once
# and prepared (homeconsent.sqlrows says why not the ORM).
_CHALLENGE, _INSTITUTION = Columns(CardAuthChallenge), Columns(Institution)


@per_connection
def _sql(connection, name: str) -> str:
    q = connection.ops.quote_name
    challenges = table(CardAuthChallenge, connection)
    if name == "use":
        return (
            f"UPDATE {challenges} SET {q('used_at')} = %s, {q('outcome')} = %s, "
            f"{q('card_certificate_id')} = %s WHERE {q('id')} = %s AND {q('used_at')} IS NULL"
        )
    # "id" or "nonce": the challenge with its institution
    return (
        f"SELECT {_CHALLENGE.sql('c', connection)}, {_INSTITUTION.sql('i', connection)} "
        f"FROM {challenges} c LEFT JOIN {table(Institution, connection)} i "
        f"ON i.{q('id')} = c.{q('institution_id')} WHERE c.{q(name)} = %s"
    )


def _lookup(challenge_id_or_nonce):
    """A challenge by its id (int) or its nonce (base64url text or the 32 raw bytes), with its institution.

    Not row-locked: the conditional UPDATE of its one use (_answer) is what serialises answers."""
    key = challenge_id_or_nonce
    if isinstance(key, CardAuthChallenge):
        key = key.pk
    if isinstance(key, (bytes, bytearray, memoryview)):
        key = base64.urlsafe_b64encode(bytes(key)).rstrip(b"=").decode()
    if isinstance(key, int) and not isinstance(key, bool):
        column = "id"
    elif isinstance(key, str) and len(key) == 43:
        column = "nonce"
    elif isinstance(key, str) and key.isdigit():
        column, key = "id", int(key)
    else:
        raise CHALLENGE_UNKNOWN()
    if column == "id" and not -(2**63) <= key < 2**63:
        raise CHALLENGE_UNKNOWN()  # no such id (and no bigint to compare it with)
    connection = connections[router.db_for_read(CardAuthChallenge)]
    with prepared_cursor(connection) as cursor:
        cursor.execute(_sql(connection, column), [key])
        row = cursor.fetchone()
    if row is None:
        raise CHALLENGE_UNKNOWN()
    challenge = _CHALLENGE.instance(row, connection)
    institution = (
        _INSTITUTION.instance(row, connection, len(_CHALLENGE)) if challenge.institution_id else None
    )
    CardAuthChallenge.institution.field.set_cached_value(challenge, institution)
    return challenge


def _use(challenge, now, outcome, card) -> bool:
    """Write the challenge's one use and its outcome, if it is still unused."""
    connection = connections[router.db_for_write(CardAuthChallenge)]
    params = [connection.ops.adapt_datetimefield_value(now), outcome, card.pk if card else None, challenge.pk]
    with prepared_cursor(connection) as cursor:
        cursor.execute(_sql(connection, "use"), params)
        return cursor.rowcount == 1


def _answer(challenge_id_or_nonce, certificate_der, signature, expected_purpose, now, card_check):
    """The challenge's one use, written in the caller's transaction: (VerifiedCardAuth, None), or
    (None, the refusal) when card_check failed (the use is written all the same). Raises the
    challenge's own refusals (unknown, purpose, expired, reused), which leave it untouched."""
    challenge = _lookup(challenge_id_or_nonce)
    if challenge.purpose != expected_purpose:
        raise PURPOSE_MISMATCH()
    if now >= challenge.expires_at:
        raise CHALLENGE_EXPIRED()
    if challenge.used_at is not None:
        raise CHALLENGE_REUSED()
    refusal, card, verified = None, None, None
    try:
        verified = card_check(challenge.message(), certificate_der, signature, now=now)
    except HomeConsentError as error:
        refusal, outcome = error, error.code
    else:
        outcome, card = VERIFIED, verified.card_certificate
    # Single use, with its outcome, in one statement: the conditional UPDATE takes the row lock, so a
    # concurrent answer waits for this transaction, then matches no row and is refused as reused
    # (on SQLite the write lock taken at BEGIN already serialises them).
    if not _use(challenge, now, outcome, card):
        raise CHALLENGE_REUSED()
    challenge.used_at, challenge.outcome, challenge.card_certificate = now, outcome, card
    if refusal is not None:
        return None, refusal
    return (
        VerifiedCardAuth(
            person=card.person if card is not None else None,
            card_certificate=card,
            challenge=challenge,
            signature=bytes(signature),
            certificate_der=bytes(certificate_der),
        ),
        None,
    )


def verify_card_authentication(
    challenge_id_or_nonce, certificate_der: bytes, signature: bytes, expected_purpose, *, now=None
) -> VerifiedCardAuth:
    """The person whose registered card signed this challenge, or a HomeConsentError.

    Codes: challenge_unknown, purpose_mismatch, challenge_expired, challenge_reused, then those of
    homeconsent.jpki.verification (certificate and signature checks, card_not_registered).
    Called inside a caller's transaction, a refusal that the caller lets roll back also rolls back
    the use of the challenge; a caller that acts on the proof at once uses card_answer() instead.
    """
    now = now or timezone.now()
    expected_purpose = ChallengePurpose(expected_purpose)
    with transaction.atomic(using=router.db_for_write(CardAuthChallenge)):
        verified, refusal = _answer(
            challenge_id_or_nonce, certificate_der, signature, expected_purpose, now, verify_card_signature
        )
    # Raised after commit, so a failed answer still uses the challenge up (see the module docstring).
    if refusal is not None:
        raise refusal
    return verified


@contextmanager
def card_answer(
    challenge_id_or_nonce,
    certificate_der: bytes,
    signature: bytes,
    expected_purpose,
    *,
    now=None,
    card_check=verify_card_signature,
):
    """verify_card_authentication for a caller that acts on the proof at once (registering a
    consent): the challenge's use and what the caller writes in the with-block commit together, one
    transaction and one commit. The with-block runs inside that transaction, without a savepoint.

    Refusals keep the challenge used, as verify_card_authentication's do: a card-check refusal is
    written and committed in that same transaction (the row stays locked from its UPDATE to the
    commit, so no other answer is tried in between); an exception from the with-block (the
    registration refused) rolls everything back, and the use is then written in a transaction of its
    own, as "verified" with the card (the card's answer was good), unless another answer has used the
    challenge in between. An answer waiting on the row lock may be judged in that short gap; the gap
    only ever follows a correct answer, never a failed card check, so a challenge is still never
    tried again after a wrong answer.

    card_check(message, certificate_der, signature, now=) -> jpki.verification.VerifiedCertificate:
    what the card must prove (by default a card registered to a person).
    """
    now = now or timezone.now()
    expected_purpose = ChallengePurpose(expected_purpose)
    using = router.db_for_write(CardAuthChallenge)
    verified = refusal = None
    try:
        with transaction.atomic(using=using):
            verified, refusal = _answer(
                challenge_id_or_nonce, certificate_der, signature, expected_purpose, now, card_check
            )
            if refusal is None:
                yield verified
    except BaseException:
        if verified is not None:  # the with-block's own failure: its writes are gone, the use stays
            with transaction.atomic(using=using):
                _use(verified.challenge, now, VERIFIED, verified.card_certificate)
        raise
    if refusal is not None:
        raise refusal


# --- issuing limits and clean-up ------------------------------------------------------------------
CHALLENGE_RATE_LIMITED = ErrorCode(
    "challenge_rate_limited",
    "短い時間にカードの確認を何度も始めたため、いまは受け付けられません。{minutes}分ほど待ってから、もう一度お試しください。",
    "Card confirmation was started too many times in a short while. Please wait about {minutes} "
    "minutes and try again.",
)
RATE_KEY_PREFIX = "homeconsent:challenge-rate"


def request_origin(request) -> str:
    """The origin of the page that made this request, as its browser names it to the reader bridge."""
    return page_origin(f"{request.scheme}://{request.get_host()}")


def challenge_for_page(issued: CardAuthChallenge, request) -> dict:
    """What a page's card step hands to the reader bridge: the challenge message itself (never a
    digest), bound first to the origin of the page it is handed to, so the bridge signs it only
    for that page. One shape for every page."""
    if not issued.origin:
        issued.origin = request_origin(request)
        issued.save(update_fields=["origin"])
    return {
        "challenge": issued.pk,
        "challenge_message": base64.b64encode(issued.message()).decode(),
        "expires_at": issued.expires_at.isoformat(),
    }


def _decode_field(value) -> bytes:
    if not isinstance(value, str) or len(value) > 16384:
        raise ValueError
    return base64.b64decode(value, validate=True)


def read_card_answer(body: bytes) -> tuple[int, bytes, bytes]:
    """A page's card answer as (challenge id, certificate, signature); ValueError if it cannot be read."""
    try:
        data = json.loads(body)
        return int(data["challenge"]), _decode_field(data["certificate"]), _decode_field(data["signature"])
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise ValueError("unreadable card answer") from error


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or behind settings.CLIENT_IP_PROXY_COUNT proxies the
    X-Forwarded-For entry the outermost one appended (entries left of it can be forged)."""
    hops = settings.CLIENT_IP_PROXY_COUNT
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def check_issue_rate(client_ip: str, **scopes) -> None:
    """Count one request for a challenge from the public pages; refuse past any limit.

    Limits are per window (settings.CHALLENGE_RATE_WINDOW), per client IP and per each scope given
    (entry=<entry token>, session=<session key>), from settings.CHALLENGE_RATE_LIMITS (0: no limit).
    Each window starts with its first request. Counters live in Django's cache (Redis when
    REDIS_URL is set, so all workers share them). Raises challenge_rate_limited; its params carry
    retry_after (seconds).
    """
    window = max(1, int(settings.CHALLENGE_RATE_WINDOW.total_seconds()))
    limits = settings.CHALLENGE_RATE_LIMITS
    counted = {scope: (value, limits.get(scope, 0)) for scope, value in {"ip": client_ip, **scopes}.items()}
    if ratelimit.count_and_check(RATE_KEY_PREFIX, counted, window):
        raise CHALLENGE_RATE_LIMITED(minutes=max(1, math.ceil(window / 60)), retry_after=window)


def purge_expired_challenges(*, older_than=datetime.timedelta(days=1), now=None, batch=5000) -> int:
    """Delete challenges nobody answered that expired more than `older_than` ago; returns how many.

    Used ones stay: a consent points at the challenge its card signed, and a refused answer's
    outcome is the record of that attempt.
    """
    cutoff = (now or timezone.now()) - older_than
    stale = CardAuthChallenge.objects.filter(used_at__isnull=True, expires_at__lt=cutoff)
    deleted = 0
    while True:  # in batches: short transactions, whatever the backlog
        pks = list(stale.order_by("pk").values_list("pk", flat=True)[:batch])
        if not pks:
            return deleted
        deleted += CardAuthChallenge.objects.filter(pk__in=pks, used_at__isnull=True).delete()[0]
