"""static/js/reader-bridge.js in Chromium, against the real bridge and the virtual card over nfcpy udp."""

import base64
import datetime
import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from homeconsent.jpki import challenge_message
from homeconsent.jpki.bridge import ReaderBridge
from homeconsent.jpki.card import VirtualJPKICard, create_card_file
from homeconsent.jpki.pki import TestPKI
from homeconsent.jpki.udp_target import UdpCardTarget

pytestmark = pytest.mark.browser

CLIENT = Path(__file__).resolve().parents[2] / "static" / "js" / "reader-bridge.js"
PIN = "4826"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A page that loads the client as the consent pages will: a plain script, no inline code."""
    root = tmp_path_factory.mktemp("site")
    shutil.copy(CLIENT, root / "reader-bridge.js")
    (root / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>bridge</title><script src="reader-bridge.js"></script>'
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    pki = TestPKI(tmp_path_factory.mktemp("pki")).init()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = pki.issue_user_auth_certificate(key.public_key(), datetime.date(1950, 1, 20))
    path = create_card_file(
        tmp_path_factory.mktemp("card") / "card.json",
        auth_key=key,
        auth_cert_der=certificate.public_bytes(serialization.Encoding.DER),
        ca_cert_der=pki.root_certificate_der,
        pin=PIN,
    )
    target = UdpCardTarget(VirtualJPKICard.load(path), "127.0.0.1", 0).start()
    yield target, certificate
    target.stop()


@pytest.fixture(scope="module")
def bridge(card, site):
    target, _ = card
    bridge = ReaderBridge(target.path, origins=[site]).start()
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def page(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(site + "/index.html")
        yield page
        browser.close()


def run(page, script, *args):
    """Evaluate an async function body with `bridge` and `args`; a rejection comes back as {error}."""
    return page.evaluate(
        """async ([url, args]) => {
            const bridge = new ReaderBridge(url);
            try { return await (async (bridge, args) => { %s })(bridge, args); }
            catch (e) { return {error: {code: e.code, tries_left: e.tries_left, message: e.message,
                                        message_en: e.message_en, name: e.name}}; }
            finally { bridge.close(); }
        }"""
        % script,
        list(args),
    )


def test_status_and_certificate_through_the_page_client(page, bridge, card):
    _, certificate = card

    status = run(page, "await bridge.connect(); return await bridge.status();", bridge.url)
    read = run(page, "return await bridge.readCertificate();", bridge.url)

    assert status["reader"] is True and status["card"] is True
    assert base64.b64decode(read["certificate"]) == certificate.public_bytes(serialization.Encoding.DER)


def challenge_for(site) -> bytes:
    """A HomeConsent challenge message as the server hands it to a page of `site`."""
    return challenge_message.challenge_message(
        nonce=base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode(),
        purpose="consent",
        institution="0110113719",
        items=["qualification"],
        kind="home_visit",
        details={},
        expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5),
        origin=site,
    )


def test_authenticate_reports_progress_and_returns_a_verifiable_signature(page, bridge, card, site):
    _, certificate = card
    challenge = challenge_for(site)
    digest_info = base64.b64encode(challenge).decode()  # the page hands the bridge the message itself

    result = run(
        page,
        """const steps = [];
           const result = await bridge.authenticate(args[0], args[1], step => steps.push(step));
           return {...result, steps};""",
        bridge.url,
        [digest_info, PIN],
    )

    certificate.public_key().verify(
        base64.b64decode(result["signature"]), challenge, padding.PKCS1v15(), hashes.SHA256()
    )
    assert result["steps"] == ["waiting_for_card", "reading", "verifying_pin", "signing"]
    assert result["tries_left"] == 3


def test_a_wrong_pin_rejects_with_its_code_and_tries_left(page, bridge, site):
    digest_info = base64.b64encode(challenge_for(site)).decode()
    wrong = run(
        page, "return await bridge.authenticate(args[0], args[1]);", bridge.url, [digest_info, "0000"]
    )
    reset = run(page, "return await bridge.authenticate(args[0], args[1]);", bridge.url, [digest_info, PIN])
    not_four_digits = run(
        page, "return await bridge.authenticate(args[0], args[1]);", bridge.url, [digest_info, "12"]
    )

    assert wrong["error"]["code"] == "pin_incorrect" and wrong["error"]["tries_left"] == 2
    assert wrong["error"]["name"] == "ReaderBridgeError" and wrong["error"]["message_en"].startswith(
        "incorrect PIN"
    )
    assert reset["tries_left"] == 3
    assert not_four_digits["error"]["code"] == "bad_request"


def test_no_bridge_running_rejects_with_bridge_unavailable(page, bridge):
    stopped = ReaderBridge("usb", origins=["http://unused.example"]).start()
    url = stopped.url
    stopped.stop()  # nothing listens on this port any more

    unavailable = run(page, "return await bridge.status();", url)

    assert unavailable["error"]["code"] == "bridge_unavailable"
    assert unavailable["error"]["message"] and unavailable["error"]["message_en"]


def test_a_page_of_another_origin_cannot_use_the_bridge(page, bridge, site):
    # Same server, other origin: http://localhost:PORT is not the configured http://127.0.0.1:PORT.
    other = page.context.browser.new_page()
    other.goto(site.replace("127.0.0.1", "localhost") + "/index.html")

    refused = run(other, "return await bridge.status();", bridge.url)
    other.close()

    assert refused["error"]["code"] == "bridge_unavailable"
