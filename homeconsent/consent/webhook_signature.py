"""The signature of HomeConsent's webhooks to telehealth apps: signing (ours) and checking (the app's).

Standard library only, no Django: a telehealth app copies this one file into its own server (or
imports it from an installed homeconsent). HomeConsent signs with sign() from here too, so both
sides share one implementation. See docs/telehealth-app.md, "Webhooks".

    from homeconsent.consent.webhook_signature import WebhookRefused, verify_webhook

    try:
        event = verify_webhook(secret, request.headers, request.body, already_processed=store.has)
    except WebhookRefused as refusal:
        # webhook_replayed: processed before and our 2xx got lost; answer 2xx so the retries stop
        return (200 if refusal.code == "webhook_replayed" else 400), refusal.as_dict()
    handle(event)          # raises -> answer 5xx: the same event comes again ~30 s later
    store.add(event["id"])  # only now; keep ids a day (each retry is signed afresh)
    return 204, None
"""

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping

EVENT_ID_HEADER = "X-HomeConsent-Event-Id"
TIMESTAMP_HEADER = "X-HomeConsent-Timestamp"
SIGNATURE_HEADER = "X-HomeConsent-Signature"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300

# code: (Japanese, English), as in HomeConsent's own coded errors.
MESSAGES = {
    "webhook_malformed": (
        "Webhook の形式が正しくありません（{reason}）。",
        "The webhook is malformed ({reason}).",
    ),
    "webhook_timestamp_out_of_range": (
        "Webhook の時刻が許容範囲（±{tolerance}秒）を外れています。",
        "The webhook's timestamp is outside the accepted window (±{tolerance} s).",
    ),
    "webhook_signature_invalid": (
        "Webhook の署名が正しくありません。",
        "The webhook's signature does not match.",
    ),
    "webhook_replayed": (
        "この Webhook（{event_id}）はすでに処理済みです。",
        "This webhook ({event_id}) has already been processed.",
    ),
}


class WebhookRefused(Exception):
    """A webhook that failed the check: .code, .message (Japanese), .message_en, .as_dict()."""

    def __init__(self, code: str, **params):
        self.code, self.params = code, params
        ja, en = MESSAGES[code]
        self.message, self.message_en = ja.format(**params), en.format(**params)
        super().__init__(f"{code}: {self.message_en}")

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "message_en": self.message_en}


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The v1 signature: hex HMAC-SHA256 over b"<timestamp>." + body."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_webhook(
    secret: str,
    headers: Mapping,
    body: bytes | str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
    already_processed: Callable[[str], bool] | None = None,
) -> dict:
    """Check one webhook and return its event (the parsed body), or raise WebhookRefused.

    The timestamp must be within `tolerance` seconds of now, the signature binds timestamp and body,
    and the header event id must be the body's "id". already_processed(event_id) -> bool refuses an
    event the app has finished before (webhook_replayed). This records nothing: the app remembers
    event["id"] itself once it has processed the event, so a retry after a failed attempt passes.
    Several "v1=" values (comma-separated) are accepted, for secret rotation.
    """
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    body = body.encode() if isinstance(body, str) else bytes(body)
    event_id = lower.get(EVENT_ID_HEADER.lower(), "")
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    if not event_id or not timestamp.isdigit() or not signature:
        raise WebhookRefused("webhook_malformed", reason="headers")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookRefused("webhook_timestamp_out_of_range", tolerance=tolerance)
    expected = sign(secret, timestamp, body)
    prefix = f"{SIGNATURE_VERSION}="
    offered = [
        part.strip()[len(prefix) :] for part in signature.split(",") if part.strip().startswith(prefix)
    ]
    if not any(
        hmac.compare_digest(expected.encode(), value.encode()) for value in offered
    ):  # bytes: any header text
        raise WebhookRefused("webhook_signature_invalid")
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookRefused("webhook_malformed", reason="body") from None
    if not isinstance(event, dict) or event.get("id") != event_id:
        raise WebhookRefused("webhook_malformed", reason="event id")
    if already_processed is not None and already_processed(event_id):
        raise WebhookRefused("webhook_replayed", event_id=event_id)
    return event
