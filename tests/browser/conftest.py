"""The consent pages in Chromium against the real server (pytest-django live_server), the real reader
bridge (a thread of this process) and a virtual card on nfcpy's udp transport.

One browser per module; each test gets fresh data, its own card and its own bridge, and a context
that records every request the page sends to the server (to show the PIN is never among them).
"""

import datetime
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from homeconsent.consent.entry import entry_for
from homeconsent.jpki.bridge import ReaderBridge
from homeconsent.jpki.card import VirtualJPKICard, create_card_file
from homeconsent.jpki.pki import TestPKI, do_register_card_certificate, issue_virtual_card
from homeconsent.jpki.udp_target import UdpCardTarget
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, Insurer, InsurerKind, Person, Qualification

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PIN = "4826"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "consent"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
    # plain synchronous code, so Django's async guard is relaxed for these tests only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def world(live_server, settings, tmp_path):
    """An institution with its entry URL, and a person insured today."""
    institution = Institution.objects.create(
        code=with_check_digit("136000123"),
        name="みどり訪問看護ステーション",
        facility_type="6",
        prefecture="13",
        municipality="世田谷区",
    )
    insurer = Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )
    person = Person.objects.create(
        name="山田 花子", name_kana="ヤマダ ハナコ", sex="2", birth_date=datetime.date(1948, 4, 2)
    )
    Qualification.objects.create(
        person=person,
        insurer=insurer,
        symbol="1234",
        number="5678",
        branch="00",
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="010",
        personal_family="1",
    )
    entry = entry_for(institution)
    return SimpleNamespace(
        institution=institution,
        person=person,
        entry=entry,
        base=live_server.url,
        entry_url=f"{live_server.url}/consent/e/{entry.token}/",
        settings=settings,
        tmp_path=tmp_path,
    )


@pytest.fixture
def reader(world):
    """serve(card_path): put that card on a virtual reader and run a bridge for the live server's origin."""
    running = []

    def serve(card_path):
        target = UdpCardTarget(VirtualJPKICard.load(card_path), "127.0.0.1", 0).start()
        running.append(target)
        bridge = ReaderBridge(target.path, origins=[world.base]).start()
        running.append(bridge)
        world.settings.READER_BRIDGE_PORT = bridge.port
        return SimpleNamespace(target=target, bridge=bridge)

    yield serve
    for thing in reversed(running):
        thing.stop()


@pytest.fixture
def card_for(world):
    """card_for(person, tries_left=3, expired=False): a registered virtual card file with PIN 4826."""

    def make(person=None, *, tries_left=3, expired=False):
        person = person or world.person
        if not expired and tries_left == 3:
            return issue_virtual_card(person, PIN, cards_dir=world.tmp_path).path
        from django.conf import settings

        pki = TestPKI(settings.JPKI_PKI_DIR).init()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        window = {}
        if expired:
            now = datetime.datetime.now(datetime.UTC)
            window = {
                "not_before": now - datetime.timedelta(days=5 * 365),
                "not_after": now - datetime.timedelta(days=1),
            }
        certificate = pki.issue_user_auth_certificate(key.public_key(), person.birth_date, **window)
        path = create_card_file(
            world.tmp_path / f"card-{tries_left}-{int(expired)}.json",
            auth_key=key,
            auth_cert_der=certificate.public_bytes(serialization.Encoding.DER),
            ca_cert_der=pki.root_certificate_der,
            pin=PIN,
            pin_tries_left=tries_left,
        )
        do_register_card_certificate(person, certificate)
        return path

    return make


class Recorder:
    """Every request the page sends (URL, headers, body) and every frame it sends to the bridge."""

    def __init__(self, page, bridge_hint="ws://127.0.0.1:"):
        self.requests = []
        self.frames = []
        page.on("request", self._request)
        page.on("websocket", self._websocket)

    def _request(self, request):
        self.requests.append(
            {
                "method": request.method,
                "url": request.url,
                "headers": request.all_headers(),
                "body": request.post_data or "",
            }
        )

    def _websocket(self, socket):
        socket.on("framesent", lambda payload: self.frames.append((socket.url, payload)))

    def assert_pin_never_sent_to_server(self, pin=PIN):
        assert self.requests, "no request recorded"
        for request in self.requests:
            text = request["url"] + "\n" + json.dumps(request["headers"]) + "\n" + request["body"]
            assert pin not in text, f"the PIN appears in {request['method']} {request['url']}"
            assert not re.search(r'"pin"\s*:', request["body"]), request["url"]

    def pins_sent_to_bridge(self):
        pins = []
        for url, payload in self.frames:
            if isinstance(payload, str) and '"pin"' in payload:
                pins.append((url, json.loads(payload)["pin"]))
        return pins


@pytest.fixture
def open_page(browser, request):
    """open_page(viewport=PHONE, locale="ja") -> (page, recorder, shoot). shoot(name) saves a screenshot."""
    contexts = []

    def make(viewport=PHONE, locale="ja-JP"):
        context = browser.new_context(viewport=viewport, locale=locale)
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        page.csp_errors = errors
        recorder = Recorder(page)
        size = "phone" if viewport["width"] < 600 else "desktop"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        counter = iter(range(1, 100))

        def shoot(name):
            page.screenshot(
                path=str(ARTIFACTS / f"{request.node.name}-{size}-{next(counter):02d}-{name}.png"),
                full_page=True,
            )

        return page, recorder, shoot

    yield make
    for context in contexts:
        context.close()


def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
