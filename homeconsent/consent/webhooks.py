"""Webhooks to telehealth apps: a signed outbox and a deliverer with backoff.

A WebhookDelivery row is written in the same transaction as the consent change it reports
(enqueue_webhook), so a webhook exists exactly when the change committed. After commit one
in-process attempt is made (settings.CONSENT_WEBHOOK_INLINE); whatever fails is retried by
`manage.py deliver_webhooks` with doubling backoff. Delivery is at least once: receivers drop
event ids they have already processed, and remember an id only once they have processed it.

Each POST carries the JSON body and three headers:

    X-HomeConsent-Event-Id:  evt_...            (also the body's "id")
    X-HomeConsent-Timestamp: 1764050000         (Unix seconds when this attempt was signed)
    X-HomeConsent-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

The signature and the apps' check live in webhook_signature.py (standard library only, for apps to
copy); this module only signs. Network failures never touch the consent: they only update the row.
"""

import datetime
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from . import outbound
from .models import WebhookDelivery, WebhookDeliveryStatus
from .rules import TOKYO
from .webhook_signature import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_VERSION,
    TIMESTAMP_HEADER,
    sign,
    verify_webhook,  # noqa: F401 - server-side tests check what was posted
)

logger = logging.getLogger(__name__)

BACKOFF_FIRST = datetime.timedelta(seconds=30)
BACKOFF_CAP = datetime.timedelta(hours=6)

# The moments of this API (webhooks and GET sessions) in one form: Japan time, +09:00, whole seconds.
MOMENT_FIELDS = ("available_until", "created_at", "expires_at")


def api_moment(value: datetime.datetime | str | None) -> str | None:
    """2026-12-02T00:00:00+09:00 for any aware datetime (or ISO string of one); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value.astimezone(TOKYO).isoformat(timespec="seconds")


def signed_headers(secret: str, event_id: str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "HomeConsent-Webhook/1",
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={sign(secret, timestamp, body)}",
    }


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
    # The callers' data may carry a moment as isoformat() of whichever zone it was read in (UTC from
    # the database, Japan time when just computed): the wire form is fixed here, for every event.
    data = {key: api_moment(value) if key in MOMENT_FIELDS else value for key, value in data.items()}
    payload = {"id": event_id, "type": event, "created_at": api_moment(now), "data": data}
    delivery = WebhookDelivery.objects.create(
        event_id=event_id,
        app=app,
        session=session,
        event=event,
        body=encode_body(payload),
        created_at=now,
        next_attempt_at=now,
    )
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
    # Production: https to the checked public address only, whatever the name resolves to now.
    opener = _opener if outbound.local_allowed() else outbound.public_only_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=timeout) as response:
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
        logger.warning(
            "webhook %s to app %s: attempt %d failed (%s)",
            delivery.event_id,
            delivery.app.client_id,
            attempts,
            fields["last_error"],
        )
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
