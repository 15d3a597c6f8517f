"""The HomeConsent challenge message: what a card signs, and the one shape the reader bridge signs.

The server encodes a card-auth challenge as this message (consent.models.CardAuthChallenge.message);
the page hands the message itself to the reader bridge, which checks it is a HomeConsent challenge
for the page that sent it, computes the SHA-256 DigestInfo itself and has the card sign that. So a
page of an allowed origin cannot make the card sign anything else (another site's login challenge, a
document): the bridge signs nothing it cannot read as ours. The server verifies the signature over
the same bytes.

Version 2 (docs/readers.md): compact JSON, keys sorted, ASCII only, UTF-8 bytes, with

    format       "homeconsent-card-challenge"
    v            2
    nonce        32 random bytes, base64url without padding (43 characters)
    purpose      one of PURPOSES
    institution  the 10-digit institution code (check digit valid), or null for a portal sign-in
    items, kind, details   what the signature binds besides (consent items, consent kind, ...)
    expires_at   UTC to the second, "YYYY-MM-DDTHH:MM:SSZ"
    origin       the page origin the challenge was issued to (scheme://host[:port])

Version 1 (no format, no origin) is still produced for challenges issued before version 2, so stored
evidence keeps verifying; the bridge no longer signs it.
"""

import base64
import datetime
import hashlib
import json
import re
import urllib.parse

from homeconsent.errors import ErrorCode
from homeconsent.registry.codes import with_check_digit

FORMAT = "homeconsent-card-challenge"
VERSION = 2
# consent.models.ChallengePurpose's values (a test holds the two together; jpki sits below consent).
PURPOSES = ("consent", "portal_login", "qualification_only")
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
MAX_MESSAGE_BYTES = 4096
# A challenge lives a few minutes (settings.CARD_AUTH_CHALLENGE_TTL); the bridge allows this much
# at most, and this much difference between its clock and the server's.
MAX_LIFETIME = datetime.timedelta(minutes=15)
CLOCK_SKEW = datetime.timedelta(minutes=2)
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")
_INSTITUTION = re.compile(r"[0-9]{10}")
_EXPIRES = "%Y-%m-%dT%H:%M:%SZ"
FIELDS = {
    "format",
    "v",
    "nonce",
    "purpose",
    "institution",
    "items",
    "kind",
    "details",
    "expires_at",
    "origin",
}

CHALLENGE_NOT_OURS = ErrorCode(
    "challenge_not_ours",
    "カードで署名できるのは HomeConsent の確認手続きだけです。このページの要求は受け付けられません（{detail}）。",
    "The card signs only HomeConsent confirmations; this page's request cannot be accepted ({detail}).",
)
CHALLENGE_WRONG_ORIGIN = ErrorCode(
    "challenge_wrong_origin",
    "この確認手続きは別のサイト（{origin}）のものです。カードでは署名しません。",
    "This confirmation belongs to another site ({origin}); the card will not sign it.",
)
CHALLENGE_STALE = ErrorCode(
    "challenge_stale",
    "確認の有効時間が過ぎているか、パソコンの時計がずれています。ページを開き直してやり直してください。",
    "The confirmation has run out, or this computer's clock is wrong. Reload the page and start again.",
)
DIGEST_REFUSED = ErrorCode(
    "digest_refused",
    "このページは古い方式で署名を求めています。ページを再読み込みしてください。",
    "This page asks for a signature the old way (a digest); reload the page.",
)


def page_origin(value: str) -> str:
    """A configured page origin as browsers send it in the Origin header: http(s)://host[:port], lower
    case, default port and trailing slash dropped. ValueError for anything that names no site
    ("null", "*", a path, another scheme), so a misconfiguration never widens who may use the card."""
    try:
        parsed = urllib.parse.urlsplit(value.strip())
        port = parsed.port
    except (AttributeError, ValueError):
        raise ValueError(f"not a page origin: {value!r}") from None
    scheme, host = parsed.scheme.lower(), parsed.hostname
    if (
        scheme not in ("http", "https")
        or not host
        or parsed.path not in ("", "/")
        or parsed.query
        or parsed.fragment
        or parsed.username is not None
        or "*" in host
    ):
        raise ValueError(f"not a page origin: {value!r}")
    host = f"[{host}]" if ":" in host else host
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default_port else "")


def encode(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def challenge_message(*, nonce, purpose, institution, items, kind, details, expires_at, origin) -> bytes:
    """The version-2 message of a challenge (expires_at an aware datetime)."""
    return encode(
        {
            "format": FORMAT,
            "v": VERSION,
            "nonce": nonce,
            "purpose": purpose,
            "institution": institution,
            "items": sorted(set(items)),
            "kind": kind,
            "details": details,
            "origin": origin,
            "expires_at": expires_at.astimezone(datetime.UTC).strftime(_EXPIRES),
        }
    )


def digest_info(message: bytes) -> bytes:
    """What the card signs: the DER DigestInfo of SHA-256(message) (RFC 8017, 9.2)."""
    return SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(message).digest()


def check(message: bytes, origin: str, now: datetime.datetime) -> dict:
    """The fields of `message` if it is a version-2 HomeConsent challenge for `origin` that has not
    expired (by `now`, allowing CLOCK_SKEW); else challenge_not_ours, challenge_wrong_origin or
    challenge_stale."""
    if len(message) > MAX_MESSAGE_BYTES:
        raise CHALLENGE_NOT_OURS(detail="too long")
    try:
        fields = json.loads(message.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise CHALLENGE_NOT_OURS(detail="not a challenge message") from None
    if not isinstance(fields, dict) or fields.get("format") != FORMAT:
        raise CHALLENGE_NOT_OURS(detail="not a challenge message")
    if fields.get("v") != VERSION:
        raise CHALLENGE_NOT_OURS(detail=f"version {fields.get('v')!r}, this bridge signs version {VERSION}")
    if set(fields) != FIELDS:
        raise CHALLENGE_NOT_OURS(detail="fields")
    if encode(fields) != message:
        raise CHALLENGE_NOT_OURS(detail="not in canonical form")  # the bytes signed are the bytes checked
    purpose, institution = fields["purpose"], fields["institution"]
    if purpose not in PURPOSES:
        raise CHALLENGE_NOT_OURS(detail="purpose")
    if not isinstance(fields["nonce"], str) or not _NONCE.fullmatch(fields["nonce"]):
        raise CHALLENGE_NOT_OURS(detail="nonce")
    if institution is None:
        if purpose != "portal_login":
            raise CHALLENGE_NOT_OURS(detail="institution")
    elif not (
        isinstance(institution, str)
        and _INSTITUTION.fullmatch(institution)
        and with_check_digit(institution[:9]) == institution
    ):
        raise CHALLENGE_NOT_OURS(detail="institution")
    if not isinstance(fields["items"], list) or not isinstance(fields["details"], dict):
        raise CHALLENGE_NOT_OURS(detail="items")
    if fields["origin"] != origin:
        raise CHALLENGE_WRONG_ORIGIN(origin=str(fields["origin"])[:100])
    try:
        expires = datetime.datetime.strptime(fields["expires_at"], _EXPIRES).replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError):
        raise CHALLENGE_NOT_OURS(detail="expires_at") from None
    if not now - CLOCK_SKEW < expires <= now + MAX_LIFETIME + CLOCK_SKEW:
        raise CHALLENGE_STALE()
    return fields


def page_message(value) -> bytes:
    """The challenge message as a page sends it (base64); challenge_not_ours if it is not that."""
    try:
        if not isinstance(value, str) or len(value) > MAX_MESSAGE_BYTES * 2:
            raise ValueError
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise CHALLENGE_NOT_OURS(detail="challenge_message must be base64") from None
