"""Webhooks to telehealth apps: a signed outbox, a deliverer with backoff, and the apps' check.

A WebhookDelivery row is written in the same transaction as the consent change it reports
(enqueue_webhook), so a webhook exists exactly when the change committed. After commit one
in-process attempt is made (settings.CONSENT_WEBHOOK_INLINE); whatever fails is retried by
`manage.py deliver_webhooks` with doubling backoff. Delivery is at least once: receivers drop
event ids they have already processed (verify_webhook does that given a set of seen ids).

Each POST carries the JSON body and three headers:

    X-HomeConsent-Event-Id:  evt_...            (also the body's "id")
    X-HomeConsent-Timestamp: 1764050000         (Unix seconds when this attempt was signed)
    X-HomeConsent-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

Network failures never touch the consent: they only update the delivery row.
"""

import datetime
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from homeconsent.errors import ErrorCode

from .models import WebhookDelivery, WebhookDeliveryStatus

logger = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-HomeConsent-Event-Id"
TIMESTAMP_HEADER = "X-HomeConsent-Timestamp"
SIGNATURE_HEADER = "X-HomeConsent-Signature"
SIGNATURE_VERSION = "v1"
BACKOFF_FIRST = datetime.timedelta(seconds=30)
BACKOFF_CAP = datetime.timedelta(hours=6)

WEBHOOK_MALFORMED = ErrorCode(
    "webhook_malformed",
    "Webhook の形式が正しくありません（{reason}）。",
    "The webhook is malformed ({reason}).",
)
WEBHOOK_TIMESTAMP_OUT_OF_RANGE = ErrorCode(
    "webhook_timestamp_out_of_range",
    "Webhook の時刻が許容範囲（±{tolerance}秒）を外れています。",
    "The webhook's timestamp is outside the accepted window (±{tolerance} s).",
)
WEBHOOK_SIGNATURE_INVALID = ErrorCode(
    "webhook_signature_invalid",
    "Webhook の署名が正しくありません。",
    "The webhook's signature does not match.",
)
WEBHOOK_REPLAYED = ErrorCode(
    "webhook_replayed",
    "この Webhook（{event_id}）はすでに受け取っています。",
    "This webhook ({event_id}) has already been received.",
)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The v1 signature: hex HMAC-SHA256 over b"<timestamp>." + body."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event_id: str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "HomeConsent-Webhook/1",
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={sign(secret, timestamp, body)}",
    }


def verify_webhook(secret: str, headers: Mapping, body, tolerance: int = 300, *, now=None, seen_event_ids=None) -> dict:
    """For apps: check a webhook and return its payload, or raise HomeConsentError.

    Replay-safe: the timestamp must be within `tolerance` seconds of now, the signature binds the
    timestamp and the body, and the header event id must be the body's id. Pass a set (or any object
    with `in` and `.add`) of event ids already processed as seen_event_ids to refuse a repeat;
    keep ids at least `tolerance` seconds (older replays already fail the timestamp check).
    Several "v1=" values (comma-separated) are accepted, for secret rotation.
    """
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    body = body.encode() if isinstance(body, str) else bytes(body)
    event_id = lower.get(EVENT_ID_HEADER.lower(), "")
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    if not event_id or not timestamp.isdigit() or not signature:
        raise WEBHOOK_MALFORMED(reason="headers")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        raise WEBHOOK_TIMESTAMP_OUT_OF_RANGE(tolerance=tolerance)
    expected = sign(secret, timestamp, body)
    offered = [part.strip()[3:] for part in signature.split(",") if part.strip().startswith(f"{SIGNATURE_VERSION}=")]
    if not any(hmac.compare_digest(expected, value) for value in offered):
        raise WEBHOOK_SIGNATURE_INVALID()
    try:
        payload = json.loads(body)
    except ValueError:
        raise WEBHOOK_MALFORMED(reason="body") from None
    if not isinstance(payload, dict) or payload.get("id") != event_id:
        raise WEBHOOK_MALFORMED(reason="event id")
    if seen_event_ids is not None:
        if event_id in seen_event_ids:
            raise WEBHOOK_REPLAYED(event_id=event_id)
        seen_event_ids.add(event_id)
    return payload


def encode_body(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def enqueue_webhook(app, event: str, data: dict, *, session=None, now=None) -> WebhookDelivery | None:
    """Write the outbox row inside the caller's transaction; attempt it once after commit.

    Returns None for an app without a webhook URL (it polls the session status instead).
    """
    if not app.webhook_url:
        return None
    now = now or timezone.now()
    event_id = "evt_" + secrets.token_hex(16)
    payload = {"id": event_id, "type": event, "created_at": now.isoformat(), "data": data}
    delivery = WebhookDelivery.objects.create(
        event_id=event_id, app=app, session=session, event=event, body=encode_body(payload),
        created_at=now, next_attempt_at=now,
    )  # fmt: skip
    mode, using = settings.CONSENT_WEBHOOK_INLINE, router.db_for_write(WebhookDelivery)
    if mode == "sync":
        transaction.on_commit(lambda: attempt_delivery(delivery.pk), using=using, robust=True)
    elif mode == "thread":
        transaction.on_commit(lambda: _attempt_in_thread(delivery.pk), using=using, robust=True)
    return delivery


def _attempt_in_thread(delivery_id):
    def run():
        try:
            attempt_delivery(delivery_id)
        except Exception:  # noqa: BLE001 - the deliverer command retries
            logger.exception("webhook %s: in-process attempt failed", delivery_id)
        finally:
            connections.close_all()

    threading.Thread(target=run, name=f"webhook-{delivery_id}", daemon=True).start()


def backoff(attempts: int) -> datetime.timedelta:
    """Wait after the n-th failed attempt: 30 s, 1 min, 2 min, ... at most 6 h."""
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer that is not 2xx: retried later, never followed


_opener = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: dict, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(1024)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def attempt_delivery(delivery_id, *, now=None) -> str:
    """One attempt at one delivery if it is due and no one else holds it; returns its status."""
    from .telehealth import app_secret

    now = now or timezone.now()
    timeout = settings.CONSENT_WEBHOOK_TIMEOUT
    # Claim: push next_attempt_at past this attempt, so a concurrent deliverer skips the row.
    lease = now + datetime.timedelta(seconds=timeout + 30)
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease)
    delivery = WebhookDelivery.objects.select_related("app").get(pk=delivery_id)
    if not claimed:
        return delivery.status
    body = delivery.body.encode()
    status_code, error = None, ""
    try:
        headers = signed_headers(app_secret(delivery.app), delivery.event_id, body)
        status_code = _post(delivery.app.webhook_url, body, headers, timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the app is a failed attempt
        error = f"{type(exc).__name__}: {exc}"[:300]
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "last_status_code": status_code, "last_error": error}
    finished = timezone.now()
    if status_code is not None and 200 <= status_code < 300:
        fields |= {"status": WebhookDeliveryStatus.DELIVERED, "delivered_at": finished, "last_error": ""}
    elif attempts >= settings.CONSENT_WEBHOOK_MAX_ATTEMPTS:
        fields |= {"status": WebhookDeliveryStatus.FAILED}
    else:
        fields |= {"next_attempt_at": finished + backoff(attempts)}
        if not error:
            fields["last_error"] = f"HTTP {status_code}"
    WebhookDelivery.objects.filter(pk=delivery_id).update(**fields)
    if fields.get("status") != WebhookDeliveryStatus.DELIVERED:
        logger.warning("webhook %s to app %s: attempt %d failed (%s)", delivery.event_id, delivery.app.client_id,
                       attempts, fields["last_error"])  # fmt: skip
    return fields.get("status", WebhookDeliveryStatus.PENDING)


def deliver_due(*, now=None, limit: int = 100) -> dict:
    """Attempt every due delivery (oldest first, at most `limit`); counts by resulting status."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    counts = {"delivered": 0, "pending": 0, "failed": 0}
    for pk in due:
        counts[attempt_delivery(pk, now=now)] += 1
    return counts
