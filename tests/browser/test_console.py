"""The institution console in Chromium against real ASGI servers (daphne in subprocesses, WebSockets
included) sharing one SQLite database of their own, with the real reader bridge and virtual cards.

- An institution admin enrols (password + TOTP from the QR page's secret; codes computed here),
  signs out and in again, and watches the live board while a patient, in a second browser context,
  consents through the consent pages with a virtual card: the event appears without a reload.
- The other institution's board, open at the same time, never shows it.
- A consent registered through a second server process (its in-memory channel layer reaches no
  board of the first) arrives when the board's connection drops and it catches up.
- Five wrong codes lock the account; the right code is then refused too.
Screenshots go to test-artifacts/console/.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ARTIFACTS as CONSENT_ARTIFACTS
from .conftest import CHROMIUM_ARGS, DESKTOP, PHONE, PIN

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = CONSENT_ARTIFACTS.parent / "console"
PASSWORD = "correct horse battery staple 7"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_world():
    """Run inside the servers' environment (python -c): migrate, two institutions with an admin each
    (one-time enrolment links), two insured persons with virtual cards. Prints JSON."""
    import datetime

    from django.conf import settings
    from django.core.management import call_command

    from homeconsent.accounts.services import do_create_staff
    from homeconsent.consent.entry import entry_for
    from homeconsent.jpki.pki import TestPKI, issue_virtual_card
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, Insurer, InsurerKind, Person, Qualification

    call_command("migrate", interactive=False, verbosity=0)
    TestPKI(settings.JPKI_PKI_DIR).init()
    a = Institution.objects.create(code=with_check_digit("136000123"), name="みどり訪問看護ステーション")
    b = Institution.objects.create(code=with_check_digit("131765432"), name="あおぞら内科")
    insurer = Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )
    cards = []
    for n, name in enumerate(["山田 花子", "佐藤 一郎"]):
        person = Person.objects.create(
            name=name, name_kana="シケン", sex="2", birth_date=datetime.date(1948, 4, 2 + n)
        )
        Qualification.objects.create(
            person=person,
            insurer=insurer,
            symbol="1234",
            number=str(5678 + n),
            branch="00",
            acquired_on=datetime.date(2020, 4, 1),
            contribution_ratio="010",
            personal_family="1",
        )
        cards.append(str(issue_virtual_card(person, PIN).path))
    _, link_a = do_create_staff(a, "midori-admin", "institution_admin", by="operator:test")
    _, link_b = do_create_staff(b, "aozora-admin", "institution_admin", by="operator:test")
    print(
        json.dumps(
            {
                "link_a": link_a,
                "link_b": link_b,
                "entry_a": entry_for(a).token,
                "cards": cards,
                "names": ["山田 花子", "佐藤 一郎"],
            }
        )
    )


class Servers:
    def __init__(self, tmp_path):
        self.var = tmp_path / "var"
        self.var.mkdir()
        self.ports = [_free_port(), _free_port()]
        self.bridge_port = _free_port()
        self.bases = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "homeconsent.settings",
            "HOMECONSENT_VAR_DIR": str(self.var),
            "HOMECONSENT_BRIDGE_PORT": str(self.bridge_port),
            "HOMECONSENT_BRIDGE_ORIGINS": ",".join(self.bases),
            "HOMECONSENT_WEBHOOK_INLINE": "off",
            "PYTHONPATH": str(ROOT),
        }
        for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"):
            self.env.pop(name, None)
        self.processes = []

    def setup(self):
        code = (
            "import django; django.setup(); from tests.browser.test_console import setup_world; setup_world()"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    def start(self):
        for port in self.ports:
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "homeconsent.serve",  # daphne with the redacted access log
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "homeconsent.asgi:application",
                    ],
                    env=self.env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=(self.var / f"daphne-{port}.log").open("w"),
                )
            )
        deadline = time.monotonic() + 30
        for port in self.ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("daphne did not start") from None
                    time.sleep(0.1)

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def servers(tmp_path):
    servers = Servers(tmp_path)
    servers.world = servers.setup()
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def contexts(chromium, request):
    made = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 200))

    def make(viewport=DESKTOP, label="a"):
        context = chromium.new_context(viewport=viewport, locale="ja-JP")
        context.set_default_timeout(20000)
        made.append(context)
        page = context.new_page()
        page.csp_errors = []
        page.on(
            "console",
            lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.on("pageerror", lambda e: page.csp_errors.append(str(e)))

        def shoot(name):
            page.screenshot(
                path=str(ARTIFACTS / f"{request.node.name}-{next(counter):02d}-{label}-{name}.png"),
                full_page=True,
            )

        page.shoot = shoot
        return page

    yield make
    for context in made:
        context.close()


def totp(secret, offset_steps=0):
    from django_otp.oath import TOTP

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    t = TOTP(key)
    t.time = time.time() + offset_steps * 30
    return f"{t.token():06d}"


def enrol(page, base, link):
    page.goto(f"{base}/console/enrol/{link}/")
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.shoot("enrol-password")
    page.click("#next")
    page.wait_for_selector("#totp-qr svg")
    secret = page.get_attribute("#totp-secret", "data-secret")
    page.shoot("enrol-totp")
    page.fill("#code", totp(secret))
    page.click("#next")
    page.wait_for_selector("#board-status[data-state=live]")
    return secret


def sign_in(page, base, username, code):
    page.goto(f"{base}/console/signin/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#next")
    page.wait_for_selector("#code")
    page.fill("#code", code)
    page.click("#next")


def consent_at_home(page, entry_url):
    """The patient's side: the consent pages with the virtual card on the reader (PIN to the bridge only)."""
    page.goto(entry_url)
    page.click("#start-home")
    page.click("#next")
    page.check("#item-medication")
    page.click("#next")
    page.check("#limit-no")
    page.click("#next")
    page.wait_for_selector("#summary-shared")
    page.click("#next")
    page.wait_for_function("() => document.getElementById('card-flow').dataset.state === 'pin'")
    page.fill("#pin", PIN)
    page.click("#pin-submit")
    page.wait_for_selector("#done-title")


@pytest.fixture
def reader(servers):
    from homeconsent.jpki.bridge import ReaderBridge
    from homeconsent.jpki.card import VirtualJPKICard
    from homeconsent.jpki.udp_target import UdpCardTarget

    running = []

    def serve(card_path):
        for thing in reversed(running):
            thing.stop()
        running.clear()
        target = UdpCardTarget(VirtualJPKICard.load(card_path), "127.0.0.1", 0).start()
        bridge = ReaderBridge(
            target.path, host="127.0.0.1", port=servers.bridge_port, origins=servers.bases
        ).start()
        running.extend([target, bridge])

    yield serve
    for thing in reversed(running):
        thing.stop()


def test_a_consent_appears_live_on_its_institutions_board_only(servers, reader, contexts):
    world, base, second = servers.world, servers.bases[0], servers.bases[1]
    board = contexts(DESKTOP, "midori")
    secret = enrol(board, base, world["link_a"])
    # Sign out and in again with a later code (a code is accepted once).
    board.click("#signout")
    board.wait_for_selector("#ended[data-code=signed_out_here]")
    sign_in(board, base, "midori-admin", totp(secret, 1))
    board.wait_for_selector("#board-status[data-state=live]")
    board.shoot("board-live")
    assert board.locator("html").get_attribute("lang") == "ja"

    other = contexts(PHONE, "aozora")
    enrol(other, base, world["link_b"])
    other.shoot("board-live")

    board.evaluate("() => { window.notReloaded = true; }")
    reader(world["cards"][0])
    patient = contexts(PHONE, "patient")
    consent_at_home(patient, f"{base}/consent/e/{world['entry_a']}/")
    patient.shoot("consent-done")

    board.wait_for_selector("#events li.event-registered.event-new")
    assert board.evaluate("() => window.notReloaded === true")  # arrived over the socket, no reload
    board.shoot("event-arrived")
    # The other institution's board, live all along, got nothing.
    other.wait_for_timeout(1000)
    assert other.locator("#events li").count() == 0
    assert other.get_attribute("#board-status", "data-state") == "live"

    # The patient list and the patient page (logged as this staff member).
    board.click("text=同意済み患者")
    board.wait_for_selector("#patients")
    assert world["names"][0] in board.inner_text("#patients")
    board.click(f"text={world['names'][0]}")
    board.wait_for_selector("#eligibility[data-validity='1']")
    board.shoot("patient")

    # A consent registered through the second server: its in-memory layer reaches no board here, so
    # the board only learns of it by catching up after its connection drops.
    board.goto(f"{base}/console/")
    board.wait_for_selector("#board-status[data-state=live]")
    before = board.locator("#events li").count()
    reader(world["cards"][1])
    consent_at_home(contexts(PHONE, "patient2"), f"{second}/consent/e/{world['entry_a']}/")
    board.wait_for_timeout(1000)
    assert board.locator("#events li").count() == before
    board.evaluate("() => window.homeconsentBoard.drop()")
    board.wait_for_function(f"() => document.querySelectorAll('#events li').length === {before + 1}")
    assert board.get_attribute("#board-status", "data-state") == "live"
    assert int(board.get_attribute("#events", "data-connections")) >= 2
    board.shoot("caught-up")
    assert other.locator("#events li").count() == 0
    assert not board.csp_errors and not other.csp_errors, (board.csp_errors, other.csp_errors)


def test_the_entry_card_prints_and_rotation_needs_confirmation(servers, contexts):
    world, base = servers.world, servers.bases[0]
    page = contexts(PHONE, "midori")
    enrol(page, base, world["link_a"])
    page.goto(f"{base}/console/entry/")
    page.wait_for_selector("#entry-qr svg")
    old_url = page.get_attribute("#entry-url", "href")
    page.shoot("entry-card")
    page.emulate_media(media="print")
    page.shoot("entry-card-print")
    assert page.locator(".console-nav").is_hidden() and page.locator("#entry-card").is_visible()
    page.emulate_media(media="screen")
    page.click("#rotate")
    page.check("#confirm")
    page.shoot("rotate-confirm")
    page.click("#rotate-confirm")
    page.wait_for_selector("#rotated")
    assert page.get_attribute("#entry-url", "href") != old_url
    assert page.request.get(old_url).status == 404


def test_five_wrong_codes_lock_the_account(servers, contexts):
    world, base = servers.world, servers.bases[0]
    page = contexts(DESKTOP, "midori")
    secret = enrol(page, base, world["link_a"])
    page.click("#signout")
    right = totp(secret, 1)
    wrong = "000000" if right != "000000" else "111111"
    sign_in(page, base, "midori-admin", wrong)
    for _ in range(3):
        page.wait_for_selector("#error[data-code=console_signin_failed]")
        page.fill("#code", wrong)
        page.click("#next")
    page.wait_for_selector("#error[data-code=console_signin_failed]")
    page.fill("#code", wrong)
    page.click("#next")
    page.wait_for_selector("#error[data-code=console_account_locked]")
    page.shoot("locked")
    assert "15" in page.inner_text("#error")
    # Locked: the right password is refused before any code is asked for.
    page.goto(f"{base}/console/signin/")
    page.fill("#username", "midori-admin")
    page.fill("#password", PASSWORD)
    page.click("#next")
    page.wait_for_selector("#error[data-code=console_account_locked]")
    assert right  # never used: the lock holds whatever the code
    assert page.url.endswith("/console/signin/")
