"""Telehealth apps: the session API, the patient's way back, and signed webhooks to a local server."""

import base64
import datetime
import json
import time
import urllib.parse

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from homeconsent.audit.models import AccessEvent
from homeconsent.consent import telehealth
from homeconsent.consent.models import Consent, ConsentSession, TelehealthApp, WebhookDelivery
from homeconsent.consent.rules import TOKYO
from homeconsent.consent.services import do_cancel_consent, do_register_consent, issue_consent_challenge
from homeconsent.consent.webhook_signature import WebhookRefused
from homeconsent.consent.webhooks import deliver_due, verify_webhook
from homeconsent.errors import HomeConsentError

from .conftest import WebhookReceiver, prove

RETURN_URL = "https://tele.example.jp/visits/return"


def visit_day():
    return timezone.now().astimezone(TOKYO).date() + datetime.timedelta(days=1)


@pytest.fixture
def app_and_secret(institution, webhook_receiver):
    return telehealth.do_register_app(
        "みらいオンライン診療",
        institutions=[institution],
        allowed_return_urls=[RETURN_URL],
        webhook_url=webhook_receiver.url,
    )


@pytest.fixture
def app(app_and_secret):
    return app_and_secret[0]


@pytest.fixture
def secret(app_and_secret):
    return app_and_secret[1]


def client_for(app, secret):
    client = APIClient()
    token = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    return client


def session_request(institution, **changes):
    return {
        "institution": institution.code,
        "visit_date": visit_day().isoformat(),
        "items": ["medication"],
        "return_url": RETURN_URL,
        "state": "visit-4711",
    } | changes


def consent_in(session, patient):
    """The patient's side as the pages drive it: challenge bound to the session, card, registration."""
    terms = {"kind": session.kind, "items": session.items, "visit_date": session.visit_date}
    challenge = issue_consent_challenge(session.institution, session=session, **terms)
    return do_register_consent(prove(patient, challenge), session=session, **terms)


# --- apps -------------------------------------------------------------------------------------------
def test_an_app_secret_is_stored_encrypted_and_checked_on_every_request(app, secret, institution):
    stored = TelehealthApp.objects.get(pk=app.pk)
    assert secret not in stored.secret_encrypted and telehealth.app_secret(stored) == secret
    assert telehealth.authenticate_app(app.client_id, secret) == app
    assert telehealth.authenticate_app(app.client_id, secret + "x") is None
    assert telehealth.authenticate_app("tha_unknown", secret) is None
    entries = AccessEvent.objects.filter(detail__action="telehealth_app_registered")
    assert entries.count() == 1 and secret not in json.dumps(entries[0].detail)
    telehealth.do_revoke_app(app)
    assert telehealth.authenticate_app(app.client_id, secret) is None


def test_app_urls_must_be_https_or_loopback(institution):
    for url in ("http://tele.example.jp/return", "ftp://127.0.0.1/x", "https://user@tele.example.jp/"):
        with pytest.raises(HomeConsentError) as caught:
            telehealth.do_register_app("x", institutions=[institution], allowed_return_urls=[url])
        assert caught.value.code == "telehealth_app_url_invalid"


# --- the API ----------------------------------------------------------------------------------------
def test_an_app_creates_a_session_and_reads_its_status(app, secret, institution):
    client = client_for(app, secret)
    response = client.post("/consent/api/v1/sessions", session_request(institution), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    session = ConsentSession.objects.get(session_id=body["session_id"])
    assert body["url"] == f"http://testserver/consent/s/{session.session_id}/"
    assert body["status"] == "pending" and body["consent_id"] is None
    assert datetime.datetime.fromisoformat(body["expires_at"]) == session.expires_at.replace(microsecond=0)
    assert (session.kind, session.visit_date, session.items) == (
        "telehealth",
        visit_day(),
        ["medication", "qualification"],
    )
    assert AccessEvent.objects.filter(
        detail__action="consent_session_created", institution_code=institution.code
    ).exists()

    status = client.get(f"/consent/api/v1/sessions/{session.session_id}")
    assert status.status_code == 200 and status.json()["status"] == "pending"


def test_the_api_refuses_bad_credentials_other_institutions_and_foreign_return_urls(
    app, secret, institution, other_institution
):
    anonymous = APIClient().post("/consent/api/v1/sessions", session_request(institution), format="json")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "telehealth_app_unauthenticated"
    assert anonymous["WWW-Authenticate"].startswith("Basic")
    wrong = client_for(app, secret[:-1] + ("B" if secret.endswith("A") else "A")).post(
        "/consent/api/v1/sessions", session_request(institution), format="json"
    )
    assert wrong.status_code == 401

    client = client_for(app, secret)
    response = client.post("/consent/api/v1/sessions", session_request(other_institution), format="json")
    assert response.status_code == 403 and response.json()["code"] == "telehealth_app_not_for_institution"
    response = client.post(
        "/consent/api/v1/sessions",
        session_request(institution, return_url="https://evil.example/x"),
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "return_url_not_allowed"
    response = client.post(
        "/consent/api/v1/sessions", session_request(institution, visit_date="2020-01-06"), format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "visit_date_past"
    response = client.post(
        "/consent/api/v1/sessions", session_request(institution, items=["genome"]), format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "request_invalid"
    assert not ConsentSession.objects.exists()


def test_an_app_sees_only_its_own_sessions(app, secret, institution):
    session = telehealth.do_create_session(
        app, institution_code=institution.code, visit_date=visit_day(), items=[], return_url=RETURN_URL
    )
    other, other_secret = telehealth.do_register_app(
        "他社", institutions=[institution], allowed_return_urls=[RETURN_URL]
    )
    response = client_for(other, other_secret).get(f"/consent/api/v1/sessions/{session.session_id}")
    assert response.status_code == 404 and response.json()["code"] == "consent_session_unknown"


# --- the patient's consent, the way back, and the webhook ------------------------------------------
def test_a_consent_in_a_session_completes_it_and_the_signed_webhook_verifies(
    app, secret, institution, patient, webhook_receiver, django_capture_on_commit_callbacks
):
    session = telehealth.do_create_session(
        app,
        institution_code=institution.code,
        visit_date=visit_day(),
        items=["medication"],
        return_url=RETURN_URL + "?clinic=3",
        state="visit-4711",
    )

    with django_capture_on_commit_callbacks(execute=True):
        consent = consent_in(session, patient)

    session.refresh_from_db()
    assert session.consent == consent and telehealth.session_status(session) == "registered"
    [(headers, body)] = webhook_receiver.requests
    payload = verify_webhook(secret, headers, body)
    assert payload["type"] == "consent.registered"
    assert payload["data"]["session_id"] == session.session_id and payload["data"]["state"] == "visit-4711"
    assert (
        payload["data"]["consent_id"] == consent.pk
        and payload["data"]["visit_date"] == visit_day().isoformat()
    )
    assert WebhookDelivery.objects.get().status == "delivered"

    status = client_for(app, secret).get(f"/consent/api/v1/sessions/{session.session_id}").json()
    assert (status["status"], status["consent_id"], status["consent_status"]) == (
        "registered",
        consent.pk,
        "active",
    )

    back = urllib.parse.urlsplit(telehealth.return_redirect_url(session))
    assert back.netloc == "tele.example.jp" and back.path == "/visits/return"
    assert dict(urllib.parse.parse_qsl(back.query)) == {
        "clinic": "3",
        "session_id": session.session_id,
        "status": "registered",
        "state": "visit-4711",
    }


def test_a_cancelled_consent_is_reported_to_the_app(
    app, secret, institution, patient, webhook_receiver, django_capture_on_commit_callbacks
):
    session = telehealth.do_create_session(
        app, institution_code=institution.code, visit_date=visit_day(), items=[], return_url=RETURN_URL
    )
    with django_capture_on_commit_callbacks(execute=True):
        consent = consent_in(session, patient)
    with django_capture_on_commit_callbacks(execute=True):
        do_cancel_consent(consent, by="patient", actor_id="p")

    events = [verify_webhook(secret, headers, body)["type"] for headers, body in webhook_receiver.requests]
    assert events == ["consent.registered", "consent.cancelled"]
    session.refresh_from_db()
    assert telehealth.session_status(session) == "cancelled"


def test_a_session_cannot_take_a_consent_for_other_terms(app, institution, patient):
    session = telehealth.do_create_session(
        app,
        institution_code=institution.code,
        visit_date=visit_day(),
        items=["medication"],
        return_url=RETURN_URL,
    )
    # a proof bound to the session but registered without it, or for another visit date, is refused
    challenge = issue_consent_challenge(
        institution, kind="telehealth", items=["medication"], visit_date=visit_day(), session=session
    )
    verified = prove(patient, challenge)
    with pytest.raises(HomeConsentError) as caught:
        do_register_consent(verified, kind="telehealth", items=["medication"], visit_date=visit_day())
    assert caught.value.params == {"field": "session"}
    # a consent registered outside the session cannot complete it with other items
    plain = issue_consent_challenge(
        institution, kind="telehealth", items=["treatment"], visit_date=visit_day()
    )
    consent = do_register_consent(
        prove(patient, plain), kind="telehealth", items=["treatment"], visit_date=visit_day()
    )
    with pytest.raises(HomeConsentError) as caught:
        telehealth.complete_session(session, consent)
    assert caught.value.code == "consent_session_mismatch"


def test_an_expired_session_cannot_be_completed(app, institution, patient):
    session = telehealth.do_create_session(
        app,
        institution_code=institution.code,
        visit_date=visit_day(),
        items=[],
        return_url=RETURN_URL,
        now=timezone.now() - datetime.timedelta(hours=2),
    )
    assert telehealth.session_status(session) == "expired"
    challenge = issue_consent_challenge(
        institution, kind="telehealth", items=[], visit_date=visit_day(), session=session
    )
    with pytest.raises(HomeConsentError) as caught:
        do_register_consent(
            prove(patient, challenge), kind="telehealth", items=[], visit_date=visit_day(), session=session
        )
    assert caught.value.code == "consent_session_expired"
    assert not Consent.objects.exists()  # the consent and its session commit together or not at all


# --- webhook verification ---------------------------------------------------------------------------
@pytest.fixture
def delivered(app, secret, institution, patient, webhook_receiver, django_capture_on_commit_callbacks):
    session = telehealth.do_create_session(
        app, institution_code=institution.code, visit_date=visit_day(), items=[], return_url=RETURN_URL
    )
    with django_capture_on_commit_callbacks(execute=True):
        consent_in(session, patient)
    [(headers, body)] = webhook_receiver.requests
    return headers, body


def webhook_refusal(*args, **kwargs) -> str:
    with pytest.raises(WebhookRefused) as caught:
        verify_webhook(*args, **kwargs)
    return caught.value.code


def test_a_tampered_webhook_fails_verification(secret, delivered):
    headers, body = delivered
    tampered = body.replace(b'"consent.registered"', b'"consent.cancelled"')
    assert webhook_refusal(secret, headers, tampered) == "webhook_signature_invalid"
    assert webhook_refusal("ths_not-the-secret", headers, body) == "webhook_signature_invalid"
    headers = {
        name.lower(): value for name, value in headers.items()
    }  # as a receiver's framework may give them
    moved = headers | {"x-homeconsent-timestamp": str(int(headers["x-homeconsent-timestamp"]) + 1)}
    assert webhook_refusal(secret, moved, body) == "webhook_signature_invalid"
    other_id = headers | {"x-homeconsent-event-id": "evt_other"}
    assert webhook_refusal(secret, other_id, body) == "webhook_malformed"


def test_a_replayed_webhook_fails_verification(secret, delivered):
    headers, body = delivered
    processed = {verify_webhook(secret, headers, body)["id"]}  # the app remembers an id once it processed it
    assert (
        webhook_refusal(secret, headers, body, already_processed=processed.__contains__) == "webhook_replayed"
    )
    late = time.time() + 301
    assert webhook_refusal(secret, headers, body, now=late) == "webhook_timestamp_out_of_range"


# --- delivery failures never lose a consent ---------------------------------------------------------
def test_a_webhook_endpoint_that_is_down_does_not_lose_the_consent(
    app, secret, institution, patient, django_capture_on_commit_callbacks
):
    # given the app's endpoint is down (nothing listens there any more)
    receiver = WebhookReceiver()
    TelehealthApp.objects.filter(pk=app.pk).update(webhook_url=receiver.url)
    app.refresh_from_db()
    receiver.close()
    session = telehealth.do_create_session(
        app, institution_code=institution.code, visit_date=visit_day(), items=[], return_url=RETURN_URL
    )

    with django_capture_on_commit_callbacks(execute=True):
        consent = consent_in(session, patient)

    # then the consent stands, and the webhook waits for a retry
    assert Consent.objects.filter(pk=consent.pk, status="active").exists()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at > timezone.now() and delivery.last_error
    assert deliver_due() == {"delivered": 0, "pending": 0, "failed": 0}  # not due yet

    # when the endpoint is back and the retry is due, the deliverer posts the same event
    back = WebhookReceiver()
    try:
        TelehealthApp.objects.filter(pk=app.pk).update(webhook_url=back.url)
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        call_command("deliver_webhooks")
        [(headers, body)] = back.requests
        assert verify_webhook(secret, headers, body)["id"] == delivery.event_id
    finally:
        back.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_an_endpoint_that_keeps_failing_is_given_up_after_the_last_attempt(
    app, institution, patient, settings, webhook_receiver, django_capture_on_commit_callbacks
):
    settings.CONSENT_WEBHOOK_MAX_ATTEMPTS = 3
    webhook_receiver.status = 500
    session = telehealth.do_create_session(
        app, institution_code=institution.code, visit_date=visit_day(), items=[], return_url=RETURN_URL
    )
    with django_capture_on_commit_callbacks(execute=True):
        consent_in(session, patient)
    later = timezone.now() + datetime.timedelta(days=1)
    assert deliver_due(now=later) == {"delivered": 0, "pending": 1, "failed": 0}
    assert deliver_due(now=later + datetime.timedelta(days=1)) == {"delivered": 0, "pending": 0, "failed": 1}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 500)
    assert len(webhook_receiver.requests) == 3
    assert Consent.objects.filter(status="active").count() == 1


def test_the_register_command_prints_the_secret_once_and_it_authenticates(institution, capsys):
    call_command(
        "register_telehealth_app",
        "--name",
        "みらい",
        "--institution",
        institution.code,
        "--return-url",
        RETURN_URL,
        "--webhook-url",
        "https://tele.example.jp/hooks",
    )
    out = capsys.readouterr().out
    client_id = out.split("client_id:")[1].split()[0]
    secret = out.split("secret:")[1].split()[0]
    assert telehealth.authenticate_app(client_id, secret) == TelehealthApp.objects.get(client_id=client_id)


def test_by_default_the_webhook_is_posted_from_a_thread_right_after_commit(
    transactional_db, settings, institution, patient, webhook_receiver
):
    settings.CONSENT_WEBHOOK_INLINE = "thread"
    app, secret = telehealth.do_register_app(
        "みらい",
        institutions=[institution],
        allowed_return_urls=[RETURN_URL],
        webhook_url=webhook_receiver.url,
    )
    session = telehealth.do_create_session(
        app, institution_code=institution.code, visit_date=visit_day(), items=[], return_url=RETURN_URL
    )

    consent_in(session, patient)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and WebhookDelivery.objects.get().status != "delivered":
        time.sleep(0.05)
    assert WebhookDelivery.objects.get().status == "delivered"
    [(headers, body)] = webhook_receiver.requests
    assert verify_webhook(secret, headers, body)["data"]["session_id"] == session.session_id


def test_the_admin_shows_apps_without_their_secret_and_changes_nothing(admin_client, admin_user, app, secret):
    from tests.operators import sign_in_verified

    sign_in_verified(admin_client, admin_user)  # the admin needs a verified TOTP device
    page = admin_client.get(f"/admin/consent/telehealthapp/{app.pk}/change/")
    assert page.status_code == 200 and app.client_id in page.content.decode()
    assert secret not in page.content.decode() and app.secret_encrypted not in page.content.decode()
    assert admin_client.get("/admin/consent/consent/add/").status_code == 403
