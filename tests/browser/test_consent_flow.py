"""The consent flows in Chromium: real server, real reader bridge, virtual card on nfcpy udp.

Each test records every request the page sends to the server and shows the PIN is in none of them,
while it did go to the reader bridge. Screenshots of each step go to test-artifacts/consent/.
"""

import base64
import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import expect

from homeconsent.consent.models import Consent, ConsentSession, ConsentStatus
from homeconsent.consent.telehealth import do_register_app
from homeconsent.consent.webhooks import verify_webhook

from .conftest import DESKTOP, PHONE, PIN

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WRONG_PIN = "1111"


def wait_state(page, value):
    page.wait_for_function(
        "value => document.getElementById('card-flow') && document.getElementById('card-flow').dataset.state === value",
        arg=value,
    )


def choose_and_confirm(page, shoot, items=("medication", "checkup"), share_limit=True):
    for item in items:
        page.check(f"#item-{item}")
    shoot("items")
    page.click("#next")
    page.check("#limit-yes" if share_limit else "#limit-no")
    shoot("limit")
    page.click("#next")
    page.wait_for_selector("#summary-shared")
    shoot("confirm")
    page.click("#next")


def enter_pin(page, pin):
    wait_state(page, "pin")
    page.fill("#pin", pin)
    page.click("#pin-submit")


def assert_touch_targets(page):
    sizes = page.eval_on_selector_all(
        "main a.button, main button, main input[type=checkbox] + label, main input[type=radio] + label",
        "els => els.filter(e => e.offsetParent !== null).map(e => [e.id || e.textContent.trim().slice(0, 20), e.getBoundingClientRect().height])",
    )
    small = [(name, h) for name, h in sizes if h < 44]
    assert not small, small


def test_home_visit_flow_on_a_phone(world, reader, card_for, open_page):
    reader(card_for())
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url)
    assert world.institution.name in page.inner_text(
        ".consent-for"
    ) and world.institution.code in page.inner_text(".consent-for")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert_touch_targets(page)
    shoot("entry")
    page.click("#start-home")
    shoot("about")
    page.click("#next")
    assert_touch_targets(page)
    choose_and_confirm(page, shoot)
    wait_state(page, "pin")
    assert "3" in page.inner_text("#pin-tries")
    assert page.locator("#pin-last-try").is_hidden()
    shoot("pin")
    # Hold the card's answer on its way to the server, to see the progress the page showed.
    held = []
    page.route("**/home/answer*", lambda route: held.append(route))
    page.fill("#pin", PIN)
    page.click("#pin-submit")
    page.wait_for_selector('li[data-progress="sending"].active')
    done_steps = page.eval_on_selector_all(
        "li[data-progress].done", "els => els.map(e => e.dataset.progress)"
    )
    assert done_steps == ["reading", "verifying_pin", "signing"]
    shoot("progress")
    held[0].continue_()
    page.wait_for_selector("#done-title")
    shoot("done")
    assert "同意を登録しました" in page.inner_text("#done-title")
    assert "薬剤" in page.inner_text("#done-shared") and "限度額" in page.inner_text("#done-shared")
    assert "職員にお返しください" in page.inner_text("#hand-back")
    consent = Consent.objects.get(person=world.person)
    assert consent.kind == "home_visit" and consent.status == ConsentStatus.ACTIVE
    assert consent.items == ["checkup", "limit_certificate", "medication", "qualification"]
    recorder.assert_pin_never_sent_to_server()
    assert [pin for _url, pin in recorder.pins_sent_to_bridge()] == [PIN]
    assert all(url.startswith("ws://127.0.0.1:") for url, _pin in recorder.pins_sent_to_bridge())
    # The next patient starts from the institution's entry page.
    page.click("#start-over")
    page.wait_for_selector("#start-home")
    assert page.url == world.entry_url
    assert not page.csp_errors, page.csp_errors


def test_wrong_pin_then_right_pin_on_a_desktop(world, reader, card_for, open_page):
    reader(card_for())
    page, recorder, shoot = open_page(DESKTOP)
    page.goto(world.entry_url + "home/")
    page.click("#next")
    choose_and_confirm(page, shoot, items=("treatment",), share_limit=False)
    enter_pin(page, WRONG_PIN)
    page.wait_for_selector("#pin-wrong:not([hidden])")
    assert page.locator("#card-flow").get_attribute("data-tries-left") == "2"
    assert "2" in page.inner_text("#pin-wrong")
    assert page.locator("#pin-tries").is_hidden()  # the tries left are said once
    # Said to screen readers too, in the always-present alert region.
    expect(page.locator("[data-card-alert]")).to_contain_text("2")
    shoot("wrong-pin")
    # Two digits after the wrong PIN: only the newest message, the tries left still said calmly.
    enter_pin(page, "12")
    page.wait_for_selector("#pin-format:not([hidden])")
    assert page.locator("#pin-wrong").is_hidden()
    assert page.locator("#pin-tries").is_visible() and "2" in page.inner_text("#pin-tries")
    assert len(page.locator("#pin-form .error:not([hidden])").all()) == 1
    shoot("pin-format-after-wrong")
    enter_pin(page, PIN)
    page.wait_for_selector("#done-title")
    shoot("done")
    assert Consent.objects.get(person=world.person).items == ["qualification", "treatment"]
    recorder.assert_pin_never_sent_to_server(PIN)
    recorder.assert_pin_never_sent_to_server(WRONG_PIN)
    assert [pin for _url, pin in recorder.pins_sent_to_bridge()] == [WRONG_PIN, PIN]


def test_last_try_warning_then_locked_card(world, reader, card_for, open_page):
    reader(card_for(tries_left=1))
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    page.click("#next")
    choose_and_confirm(page, shoot)
    wait_state(page, "pin")
    assert page.locator("#pin-last-try").is_visible()
    shoot("last-try-warning")
    enter_pin(page, WRONG_PIN)
    page.wait_for_selector('.problem[data-problem="pin_locked"]:not([hidden])')
    shoot("locked")
    assert "市区町村" in page.inner_text('.problem[data-problem="pin_locked"]')
    assert "お問い合わせ用コード: pin_locked" in page.inner_text('.problem[data-problem="pin_locked"]')
    # Coming back with the locked card shows the same panel at once, without asking for a PIN.
    page.goto(world.entry_url + "home/card/")
    page.wait_for_selector('.problem[data-problem="pin_locked"]:not([hidden])')
    assert not Consent.objects.exists()
    recorder.assert_pin_never_sent_to_server(WRONG_PIN)


def test_expired_certificate(world, reader, card_for, open_page):
    reader(card_for(expired=True))
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    page.click("#next")
    choose_and_confirm(page, shoot)
    enter_pin(page, PIN)
    panel = '.problem[data-problem="certificate_expired"]'
    page.wait_for_selector(panel + ":not([hidden])")
    shoot("expired")
    assert "市区町村" in page.inner_text(panel)
    assert "お問い合わせ用コード: certificate_expired" in page.inner_text(panel)
    assert page.locator("#card-flow").get_attribute("data-problem") == "certificate_expired"
    assert not Consent.objects.exists()
    recorder.assert_pin_never_sent_to_server()


def test_end_date_never_sticks_and_the_done_page_shows_the_day_chosen(world, reader, card_for, open_page):
    reader(card_for())
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    page.click("#next")
    for item in ("medication",):
        page.check(f"#item-{item}")
    page.click("#next")
    page.check("#limit-no")
    page.click("#next")
    page.wait_for_selector("#until-choice")
    page.wait_for_load_state("load")  # the box is hidden by the page's script, which runs before "load"
    # The date box appears only for "set an end date".
    assert page.locator("#until-date-value").is_hidden()
    page.check("#until-date")
    assert page.locator("#until-date-value").is_visible()
    page.fill("#until-date-value", "2099-01-01")  # beyond the five years
    shoot("bad-end-date")
    # Back to "while your care continues": the button still goes on.
    page.check("#until-care")
    assert page.locator("#until-date-value").is_hidden()
    page.click("#next")
    wait_state(page, "pin")
    # Out of range: our coded message in the page's language, the date box still shown.
    page.go_back()
    page.wait_for_selector("#until-choice")
    page.wait_for_load_state("load")
    page.check("#until-date")
    page.fill("#until-date-value", "2099-01-01")
    page.click("#next")
    page.wait_for_selector('#until-error[data-code="available_until_too_far"]')
    assert "同意の終了日は5年先まで" in page.inner_text("#until-error")
    assert "available_until_too_far" in page.inner_text("#until-date-box .error-code")
    assert page.locator("#until-date-value").is_visible()
    shoot("end-date-error")
    end = datetime.date.today() + datetime.timedelta(days=120)
    page.fill("#until-date-value", end.isoformat())
    page.click("#next")
    enter_pin(page, PIN)
    page.wait_for_selector("#done-title")
    shoot("done-with-end-date")
    assert page.inner_text("#done-until") == f"{end.year}年{end.month}月{end.day}日まで"
    assert page.inner_text("#done-for") == "訪問診療・訪問看護"
    assert "同意した相手" in page.inner_text(".consent-for")
    assert not page.csp_errors, page.csp_errors


def test_bridge_down_then_started(world, reader, card_for, open_page, settings):
    from .conftest import free_tcp_port

    settings.READER_BRIDGE_PORT = free_tcp_port()  # nothing listens there
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    page.click("#next")
    choose_and_confirm(page, shoot)
    panel = '.problem[data-problem="bridge_unavailable"]'
    page.wait_for_selector(panel + ":not([hidden])")
    shoot("bridge-down")
    # The patient reads what to do; the command is for staff, folded away. Screen readers hear it in the alert region.
    assert "職員にお知らせください" in page.inner_text(panel) and "reader_bridge" not in page.inner_text(
        panel
    )
    assert "reader_bridge" not in page.text_content(panel) and "manage.py" not in page.text_content(panel)
    expect(page.locator("[data-card-alert]")).to_contain_text("カードを読み取れません")
    assert page.title().startswith("エラー：")
    # Start the bridge, reload the card step (the page's policy names the bridge's port), go on.
    reader(card_for())
    page.reload()
    enter_pin(page, PIN)
    page.wait_for_selector("#done-title")
    shoot("done-after-start")
    assert Consent.objects.filter(person=world.person).count() == 1


def test_no_reader_and_no_card(world, reader, card_for, open_page, monkeypatch):
    from homeconsent.consent import views
    from homeconsent.jpki.bridge import ReaderBridge
    from tests.jpki.test_bridge import usb_reader_attached

    monkeypatch.setattr(views, "CARD_WAIT_SECONDS", 2)
    page, recorder, shoot = open_page(PHONE)
    if not usb_reader_attached():
        usb = ReaderBridge("usb", origins=[world.base]).start()
        try:
            world.settings.READER_BRIDGE_PORT = usb.port
            page.goto(world.entry_url + "mine/")
            page.click("#next")
            page.wait_for_selector('.problem[data-problem="no_reader"]:not([hidden])')
            shoot("no-reader")
        finally:
            usb.stop()
    served = reader(card_for())
    served.target.remove()
    page.goto(world.entry_url + "mine/")
    page.click("#next")
    wait_state(page, "place")
    shoot("place-card")
    page.wait_for_selector('.problem[data-problem="no_card"]:not([hidden])')
    shoot("no-card")
    served.target.insert()
    page.click('.problem[data-problem="no_card"] [data-action=retry]')
    wait_state(page, "pin")


def test_inquiry_then_cancel_all(world, reader, card_for, open_page):
    reader(card_for())
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    page.click("#next")
    choose_and_confirm(page, shoot, items=("medication",))
    enter_pin(page, PIN)
    page.wait_for_selector("#done-title")

    page.goto(world.entry_url)
    page.click("#start-mine")
    shoot("inquiry-about")
    page.click("#next")
    enter_pin(page, PIN)
    page.wait_for_selector("#consent-list")
    shoot("my-consents")
    assert "薬剤" in page.inner_text("#consent-list")
    page.click("#cancel-all")
    shoot("cancel-all-confirm")
    page.click("#confirm-cancel-all")
    page.wait_for_selector("#cancelled-title")
    shoot("cancelled")
    assert Consent.objects.get(person=world.person).status == ConsentStatus.CANCELLED
    recorder.assert_pin_never_sent_to_server()
    assert len(recorder.pins_sent_to_bridge()) == 2
    # The card proof ended with the cancellation: the list is closed until the card is used again.
    page.goto(world.entry_url + "mine/consents/")
    page.wait_for_selector('.problem[data-problem="session_expired"] #start-again')
    shoot("session-expired")
    page.click("#start-again")
    page.wait_for_selector("#start-mine")
    assert not page.csp_errors, page.csp_errors


def test_telehealth_from_the_entry_page_in_english(world, reader, card_for, open_page):
    reader(card_for())
    visit = datetime.date.today() + datetime.timedelta(days=7)
    page, recorder, shoot = open_page(DESKTOP)
    page.goto(world.entry_url)
    page.click(".language-switch button[value=en]")
    page.wait_for_selector("html[lang=en]")
    assert "Consent for a telehealth visit" in page.inner_text("#start-telehealth")
    shoot("entry-en")
    page.click("#start-telehealth")
    page.click("#next")
    page.fill("#visit_date", visit.isoformat())
    shoot("visit-date")
    page.click("#next")
    choose_and_confirm(page, shoot, items=("medication", "treatment"), share_limit=False)
    wait_state(page, "pin")
    assert "Tries left: 3" in page.inner_text("#pin-tries")
    shoot("pin-en")
    page.fill("#pin", PIN)
    page.click("#pin-submit")
    page.wait_for_selector("#done-title")
    shoot("done-en")
    assert "Your consent is registered" in page.inner_text("#done-title")
    consent = Consent.objects.get(person=world.person)
    assert consent.kind == "telehealth" and consent.visit_date == visit
    assert consent.items == ["medication", "qualification", "treatment"]
    recorder.assert_pin_never_sent_to_server()


class _App(BaseHTTPRequestHandler):
    """The telehealth app: its return page and its webhook receiver."""

    received = []

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"<!doctype html><title>app</title><h1 id=app>Telehealth app</h1>")

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def telehealth_app(world, settings):
    settings.CONSENT_WEBHOOK_INLINE = "sync"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    _App.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    app, secret = do_register_app(
        "みらいオンライン診療",
        institutions=[world.institution],
        allowed_return_urls=[base + "/back"],
        webhook_url=base + "/hook",
    )
    yield app, secret, base
    server.shutdown()
    server.server_close()


def test_telehealth_flow_from_the_app_api_back_to_the_app(world, reader, card_for, open_page, telehealth_app):
    app, secret, app_base = telehealth_app
    reader(card_for())
    visit = datetime.date.today() + datetime.timedelta(days=2)
    request = Request(
        world.base + "/consent/api/v1/sessions",
        data=json.dumps(
            {
                "institution": world.institution.code,
                "visit_date": visit.isoformat(),
                "items": ["qualification", "medication"],
                "return_url": app_base + "/back",
                "state": "visit-8841",
            }
        ).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode(),
        },
        method="POST",
    )
    with urlopen(request, timeout=10) as response:
        session = json.load(response)
    page, recorder, shoot = open_page(PHONE)
    page.goto(session["url"])
    shoot("about")
    page.click("#next")
    # The booked date is not asked again: the items screen names it.
    assert f"{visit.month}月{visit.day}日" in page.inner_text("#booked-visit-date")
    assert page.locator("input#visit_date").count() == 0
    assert "薬剤" in page.inner_text("#requested-items")
    shoot("requested")
    page.click("#next")
    assert page.inner_text("#summary-visit-date")
    shoot("confirm")
    page.click("#next")
    enter_pin(page, PIN)
    page.wait_for_selector("#return-to-app")
    shoot("done")
    page.click("#return-to-app")
    page.wait_for_selector("#app")
    landed = page.url
    assert landed.startswith(app_base + "/back?")
    assert (
        "state=visit-8841" in landed
        and f"session_id={session['session_id']}" in landed
        and "status=registered" in landed
    )
    consent = Consent.objects.get(person=world.person)
    assert consent.kind == "telehealth" and consent.visit_date == visit
    assert ConsentSession.objects.get(session_id=session["session_id"]).consent == consent
    headers, body = _App.received[0]
    event = verify_webhook(secret, headers, body)
    assert event["data"]["state"] == "visit-8841" and event["data"]["consent_id"] == consent.pk
    recorder.assert_pin_never_sent_to_server()
    assert not page.csp_errors, page.csp_errors


def test_stop_in_an_app_session_goes_back_to_the_app_as_declined(world, open_page, telehealth_app):
    app, secret, app_base = telehealth_app
    visit = datetime.date.today() + datetime.timedelta(days=2)
    request = Request(
        world.base + "/consent/api/v1/sessions",
        data=json.dumps(
            {
                "institution": world.institution.code,
                "visit_date": visit.isoformat(),
                "items": ["qualification", "medication"],
                "return_url": app_base + "/back",
                "state": "visit-9902",
            }
        ).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode(),
        },
        method="POST",
    )
    with urlopen(request, timeout=10) as response:
        session = json.load(response)
    # Given a patient on the app's consent pages (these pages have no script: stop is a plain form)
    page, _recorder, shoot = open_page(PHONE)
    page.goto(session["url"])
    page.click("#next")
    page.wait_for_selector("#requested-items")
    assert "中止してアプリに戻る" in page.inner_text("#stop")
    shoot("stop")
    # When they press 中止する
    page.click("#stop")
    # Then they are back in the app, which learns the session was declined
    page.wait_for_selector("#app")
    landed = page.url
    assert landed.startswith(app_base + "/back?")
    assert (
        "status=declined" in landed
        and "state=visit-9902" in landed
        and f"session_id={session['session_id']}" in landed
    )
    assert ConsentSession.objects.get(session_id=session["session_id"]).status == "declined"
    assert not page.csp_errors, page.csp_errors
