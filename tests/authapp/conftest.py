"""The phone route against the stand-in provider as a real separate process, and a rogue provider
(tokens forged with PyJWT, a JWT library the service does not use) for the refusals of the ID token."""

import json
import os
import re
import select
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from homeconsent.authapp.relying_party import forget_providers
from homeconsent.jpki.pki import issue_virtual_card
from tests.consent.conftest import PageClient
from tests.consent.test_pages import (  # noqa: F401  (fixtures)
    PIN,
    card_key,
    entry,
    institution,
    page_pki,
    person,
    trusted,
    url,
    walk_to_card,
)

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "東京都千代田区霞が関1丁目2番3号"
REDIRECT_URI = "http://testserver/consent/app/callback"


_APP_START = re.compile(r"^/consent/e/[^/]+/(home|telehealth)/app$")


class AppPageClient(PageClient):
    """The consent pages' test client (drafts named as the pages name them), the app route's start too."""

    def post(self, path, data=None, content_type=None, **extra):
        if _APP_START.match(path):
            path = f"{path}?draft={self._draft(path)}"
        return super().post(path, data, content_type, **extra)


@pytest.fixture
def client():
    return AppPageClient()


class JsonServer:
    """A small HTTP server on 127.0.0.1 answering GET/POST by path from a dict of handlers."""

    def __init__(self, routes):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                outer.requests.append((self.command, self.path, body))
                handler = outer.routes.get(urllib.parse.urlsplit(self.path).path)
                status, document = handler(self, body) if handler else (404, {"error": "not_found"})
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.routes = routes
        self.requests = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app_settings(settings, tmp_path, trusted, monkeypatch):
    # The relying party talks plain http to 127.0.0.1 in tests only; production issuers are https.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    settings.AUTH_APP_CLIENT_KEY_FILE = tmp_path / "client-key.pem"
    settings.AUTH_APP_CLIENT_ID = "homeconsent"
    settings.AUTH_APP_REDIRECT_URI = REDIRECT_URI
    settings.AUTH_APP_ID_TOKEN_ALGORITHMS = ["ES256"]
    # A provider of an earlier test may have had this test's port: start with nothing kept.
    forget_providers()
    yield settings
    forget_providers()


@pytest.fixture
def client_jwks_server(app_settings):
    """Where the provider fetches this service's public key (the live site serves /consent/app/jwks.json)."""
    from homeconsent.authapp.keys import client_jwks

    jwks = client_jwks()
    server = JsonServer({"/jwks.json": lambda handler, body: (200, jwks)})
    yield server
    server.close()


@pytest.fixture
def holder_card(person, tmp_path, trusted):
    """The person's registered virtual card (what the phone reads) and their four attributes."""
    person.address = ADDRESS
    person.save(update_fields=["address"])
    issued = issue_virtual_card(person, PIN, cards_dir=tmp_path / "phone", pki=trusted)
    holder = {
        "name": person.name,
        "birthdate": person.birth_date.isoformat(),
        "gender": "female",
        "address": ADDRESS,
    }
    return issued.path, holder


class Provider:
    def __init__(self, process, issuer, card_path):
        self.process = process
        self.issuer = issuer
        self.card_path = card_path

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_provider(card_path, holder, jwks_url, tmp_path, trusted, redirect_uri=REDIRECT_URI) -> Provider:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "HOMECONSENT_VAR_DIR": str(tmp_path / "provider-var"),
        "HOMECONSENT_JPKI_ROOTS": str(trusted.root_path),
        "HOMECONSENT_JPKI_CRLS": str(trusted.crl_path),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "authenticator_provider",
            "--port",
            "0",
            "--client",
            "homeconsent",
            "--redirect-uri",
            redirect_uri,
            "--client-jwks-uri",
            jwks_url,
            "--card",
            str(card_path),
            "--holder",
            json.dumps(holder, ensure_ascii=False),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline and process.poll() is None:
        ready, _w, _x = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            break
    if not line.startswith("issuer: "):
        process.kill()
        raise AssertionError(f"the provider did not start: {line!r} {process.stderr.read()[-2000:]}")
    return Provider(process, line.split(" ", 1)[1].strip(), card_path)


@pytest.fixture
def provider(app_settings, client_jwks_server, holder_card, tmp_path, trusted):
    card_path, holder = holder_card
    running = start_provider(card_path, holder, client_jwks_server.url + "/jwks.json", tmp_path, trusted)
    app_settings.AUTH_APP_ISSUER = running.issuer
    yield running
    running.stop()


class PhoneApp:
    """The patient's hands on the stand-in app's screen (its own HTTP server, not the service)."""

    def __init__(self, authorization_url):
        self.authorization_url = authorization_url
        self.session = requests.Session()
        page = self.session.get(authorization_url, timeout=10)
        assert page.status_code == 200, page.text
        self.page = page.text
        self.request_id = re.search(r'name="request" value="([^"]+)"', page.text).group(1)

    def submit(self, action, pin=""):
        target = urllib.parse.urlsplit(self.authorization_url)
        response = self.session.post(
            f"{target.scheme}://{target.netloc}{target.path}",
            data={"request": self.request_id, "action": action, "pin": pin},
            allow_redirects=False,
            timeout=30,
        )
        self.page = response.text
        return response

    def enter_pin(self, pin):
        return self.submit("prove", pin)


def callback_path(location: str) -> str:
    parts = urllib.parse.urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT_URI
    return f"{parts.path}?{parts.query}"
