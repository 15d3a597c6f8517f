"""Webhooks as a telehealth app receives them: the documented receiver, the Django-free verifier,
and one form of time in every event."""

import base64
import datetime
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from homeconsent.consent import telehealth
from homeconsent.consent.models import WebhookDelivery
from homeconsent.consent.rules import TOKYO
from homeconsent.consent.services import do_cancel_consent, do_register_consent, issue_consent_challenge
from homeconsent.consent.webhook_signature import WebhookRefused, verify_webhook
from homeconsent.consent.webhooks import deliver_due

from .conftest import prove

ROOT = Path(__file__).resolve().parents[2]
RETURN_URL = "https://tele.example.jp/visits/return"
JAPAN_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$")


def visit_day():
    return timezone.now().astimezone(TOKYO).date() + datetime.timedelta(days=1)


def consent_in(session, patient):
    terms = {"kind": session.kind, "items": session.items, "visit_date": session.visit_date}
    challenge = issue_consent_challenge(session.institution, session=session, **terms)
    return do_register_consent(prove(patient, challenge), session=session, **terms)


class DocumentedApp:
    """An app's webhook endpoint written as docs/telehealth-app.md shows, on 127.0.0.1.

    `failures` makes the app's own processing fail that many times (its database is down, say)."""

    def __init__(self, secret, failures=0):
        self.secret, self.failures = secret, failures
        self.processed_ids, self.handled, self.answers = set(), [], []
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = app.receive(dict(self.headers.items()), body)
                app.answers.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def receive(self, headers, body) -> int:
        try:
            event = verify_webhook(
                self.secret, headers, body, already_processed=self.processed_ids.__contains__
            )
        except WebhookRefused as refusal:
            return 200 if refusal.code == "webhook_replayed" else 400
        try:
            self.handle(event)
        except RuntimeError:
            return 503
        self.processed_ids.add(event["id"])
        return 204

    def handle(self, event):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the app's database is down")
        self.handled.append(event)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/homeconsent"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_app(institution):
    servers = []

    def make(failures=0):
        server = DocumentedApp(secret=None, failures=failures)
        servers.append(server)
        app, server.secret = telehealth.do_register_app(
            "みらいオンライン診療",
            institutions=[institution],
            allowed_return_urls=[RETURN_URL],
            webhook_url=server.url,
        )
        return app, server.secret, server

    yield make
    for server in servers:
        server.close()


def session_for(app, institution):
    return telehealth.do_create_session(
        app,
        institution_code=institution.code,
        visit_date=visit_day(),
        items=["medication"],
        return_url=RETURN_URL,
    )


# --- at least once, for an app that follows the doc ---------------------------------------------------
def test_an_event_the_app_failed_to_process_is_accepted_on_the_retry(
    make_app, institution, patient, django_capture_on_commit_callbacks
):
    # given an app whose processing fails on the first attempt
    app, _, server = make_app(failures=1)
    session = session_for(app, institution)

    with django_capture_on_commit_callbacks(execute=True):
        consent_in(session, patient)

    # then the app answered 5xx and has processed nothing, and the delivery waits for a retry
    assert server.answers == [503] and server.handled == []
    assert WebhookDelivery.objects.get().status == "pending"

    # when the deliverer retries (re-signed, the same event id)
    counts = deliver_due(now=timezone.now() + datetime.timedelta(minutes=1))
    assert counts == {"delivered": 1, "pending": 0, "failed": 0}

    # then the retry passes the check and the app processes the event once
    assert server.answers == [503, 204]
    assert [event["data"]["session_id"] for event in server.handled] == [session.session_id]


def test_an_event_processed_before_is_answered_2xx_and_not_processed_again(
    make_app, institution, patient, django_capture_on_commit_callbacks
):
    # given an event the app processed, whose 2xx HomeConsent did not get (so it is posted again)
    app, _, server = make_app()
    with django_capture_on_commit_callbacks(execute=True):
        consent_in(session_for(app, institution), patient)
    WebhookDelivery.objects.update(status="pending", next_attempt_at=timezone.now())

    # when it arrives again
    deliver_due()

    # then the app answers 2xx (the retries stop) without processing it twice
    assert server.answers == [204, 200] and len(server.handled) == 1
    assert WebhookDelivery.objects.get().status == "delivered"


@pytest.fixture
def posted(institution, patient, webhook_receiver, django_capture_on_commit_callbacks):
    """The secret, headers and raw body of a consent.registered webhook as an app's server got them."""
    app, secret = telehealth.do_register_app(
        "みらいオンライン診療",
        institutions=[institution],
        allowed_return_urls=[RETURN_URL],
        webhook_url=webhook_receiver.url,
    )
    with django_capture_on_commit_callbacks(execute=True):
        consent_in(session_for(app, institution), patient)
    [(headers, body)] = webhook_receiver.requests
    return secret, headers, body


def test_verifying_records_nothing_and_the_replay_checks_still_hold(posted):
    secret, headers, body = posted

    # verifying twice without processing in between passes both times: nothing was remembered
    processed = set()
    assert (
        verify_webhook(secret, headers, body, already_processed=processed.__contains__)["id"] not in processed
    )
    event = verify_webhook(secret, headers, body, already_processed=processed.__contains__)

    # once the app remembers the id, the same event is refused as a replay
    processed.add(event["id"])
    with pytest.raises(WebhookRefused) as caught:
        verify_webhook(secret, headers, body, already_processed=processed.__contains__)
    assert caught.value.code == "webhook_replayed" and event["id"] in caught.value.message_en
    assert set(caught.value.as_dict()) == {"code", "message", "message_en"}
    # and an old signature fails the window whatever the app remembers
    with pytest.raises(WebhookRefused) as caught:
        verify_webhook(secret, headers, body, now=time.time() + 301)
    assert caught.value.code == "webhook_timestamp_out_of_range"


# --- the verifier without Django ----------------------------------------------------------------------
VERIFY_SCRIPT = """
import json, sys
{import_line}
given = json.load(sys.stdin)
event = verify_webhook(given["secret"], given["headers"], given["body"].encode(), already_processed=set().__contains__)
try:
    verify_webhook(given["secret"], given["headers"], given["body"].encode() + b" ")
except WebhookRefused as refusal:
    refused = refusal.code
ours = ("__main__", "homeconsent", "webhook_signature")
outside = sorted(m for m in sys.modules if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith(ours))
print(json.dumps({{"id": event["id"], "refused": refused, "django": "django" in sys.modules, "outside": outside}}))
"""


def run_without_django(import_line, stdin, *, cwd, pythonpath):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "HOMECONSENT_"))}
    environment["PYTHONPATH"] = str(pythonpath)
    # -S: no site-packages at all, so anything but the standard library would fail to import
    done = subprocess.run(
        [sys.executable, "-S", "-c", VERIFY_SCRIPT.format(import_line=import_line)],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_app_verifies_webhooks_without_django_by_import_or_by_a_copy_of_the_file(posted, tmp_path):
    secret, headers, body = posted
    stdin = json.dumps({"secret": secret, "headers": headers, "body": body.decode()})
    expected = {
        "id": json.loads(body)["id"],
        "refused": "webhook_signature_invalid",
        "django": False,
        "outside": [],
    }

    # imported from the package, no DJANGO_SETTINGS_MODULE
    imported = run_without_django(
        "from homeconsent.consent.webhook_signature import WebhookRefused, verify_webhook",
        stdin,
        cwd=tmp_path,
        pythonpath=ROOT,
    )
    assert imported == expected

    # the one file copied into the app's own code
    own_code = tmp_path / "app"
    own_code.mkdir()
    shutil.copy(ROOT / "homeconsent" / "consent" / "webhook_signature.py", own_code)
    copied = run_without_django(
        "from webhook_signature import WebhookRefused, verify_webhook",
        stdin,
        cwd=own_code,
        pythonpath=own_code,
    )
    assert copied == expected


# --- one form of time ---------------------------------------------------------------------------------
def test_every_moment_of_the_api_is_japan_time_to_the_second(
    make_app, institution, patient, django_capture_on_commit_callbacks
):
    # given a consent registered and then cancelled through an app's session
    app, secret, server = make_app()
    session = session_for(app, institution)
    with django_capture_on_commit_callbacks(execute=True):
        consent = consent_in(session, patient)
    with django_capture_on_commit_callbacks(execute=True):
        do_cancel_consent(consent, by="patient", actor_id="p")
    client = APIClient()
    credentials = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {credentials}")
    polled = client.get(f"/consent/api/v1/sessions/{session.session_id}").json()

    # then both events and the poll give the same moments in one form: +09:00, whole seconds
    registered, cancelled = server.handled
    assert (registered["type"], cancelled["type"]) == ("consent.registered", "consent.cancelled")
    until = f"{visit_day() + datetime.timedelta(days=1)}T00:00:00+09:00"
    assert registered["data"]["available_until"] == until and cancelled["data"]["available_until"] == until
    assert polled["available_until"] == until
    for moment in (registered["created_at"], cancelled["created_at"], polled["expires_at"]):
        assert JAPAN_TIME.match(moment), moment
