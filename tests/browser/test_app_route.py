"""The phone route in Chromium at 390×844 with no reader bridge running: the service (live_server), the
stand-in authentication app as its own HTTP process, and the PIN entered on the app's screen only."""

import base64
import datetime
import json
import threading
from http.server import ThreadingHTTPServer
from urllib.request import Request, urlopen

import pytest

from homeconsent.audit.models import AccessEvent
from homeconsent.consent.models import Consent, ConsentSession, ConsentStatus
from homeconsent.consent.telehealth import do_register_app
from homeconsent.consent.webhooks import verify_webhook
from homeconsent.jpki.pki import issue_virtual_card
from tests.authapp.conftest import start_provider

from .conftest import PHONE, PIN, free_tcp_port
from .test_consent_flow import _App, choose_and_confirm

pytestmark = pytest.mark.browser
ADDRESS = "東京都世田谷区太子堂四丁目5番6号"


@pytest.fixture
def phone(world, tmp_path, monkeypatch):
    """No bridge on this device; the stand-in app holds the patient's card; the service is its client."""
    from django.conf import settings as django_settings

    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    world.person.address = "東京都世田谷区太子堂4-5-6"
    world.person.save(update_fields=["address"])
    card = issue_virtual_card(world.person, PIN, cards_dir=tmp_path / "phone").path
    world.settings.READER_BRIDGE_PORT = free_tcp_port()  # nothing listens there
    world.settings.AUTH_APP_CLIENT_KEY_FILE = tmp_path / "client-key.pem"
    world.settings.AUTH_APP_CLIENT_ID = "homeconsent"
    world.settings.AUTH_APP_REDIRECT_URI = world.base + "/consent/app/callback"

    class Trusted:
        root_path = django_settings.JPKI_TRUST_ROOTS[0]
        crl_path = django_settings.JPKI_CRLS[0]

    holder = {"name": "山田　花子", "birthdate": "1948-04-02", "gender": "female", "address": ADDRESS}
    provider = start_provider(
        card,
        holder,
        world.base + "/consent/app/jwks.json",
        tmp_path,
        Trusted,
        redirect_uri=world.settings.AUTH_APP_REDIRECT_URI,
    )
    world.settings.AUTH_APP_ISSUER = provider.issuer
    yield provider
    provider.stop()


def service_requests(recorder, base):
    return [r for r in recorder.requests if r["url"].startswith(base)]


def assert_pin_never_sent_to_service(recorder, base):
    sent = service_requests(recorder, base)
    assert sent
    for request in sent:
        assert PIN not in request["url"] + json.dumps(request["headers"]) + request["body"], request["url"]


def prove_in_app(page, shoot):
    # No bridge answers: the app route comes first, the reader one tap away.
    page.wait_for_selector("body[data-route-first=app]")
    order = page.eval_on_selector_all("#app-route, #card-flow", "els => els.map(e => e.id)")
    assert order == ["app-route", "card-flow"] and page.locator("#reader-route-start").is_visible()
    shoot("routes")
    page.click("#app-route-start")
    page.wait_for_selector("#prove")
    shoot("app")
    page.fill("#pin", PIN)
    page.click("#prove")


def test_home_visit_consent_on_the_nurses_phone_through_the_app(world, phone, open_page):
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url)
    page.click("#start-home")
    page.click("#next")
    choose_and_confirm(page, shoot)
    prove_in_app(page, shoot)
    page.wait_for_selector("#done-title")
    shoot("done")

    consent = Consent.objects.get(person=world.person)
    assert (
        consent.kind == "home_visit"
        and consent.status == ConsentStatus.ACTIVE
        and consent.authenticator == "app"
    )
    assert_pin_never_sent_to_service(recorder, world.base)
    assert not page.csp_errors, page.csp_errors


def test_the_reader_route_is_one_tap_away_on_a_phone(world, phone, open_page):
    page, _recorder, _shoot = open_page(PHONE)
    page.goto(world.entry_url)
    page.click("#start-home")
    page.click("#next")
    choose_and_confirm(page, lambda name: None)
    page.wait_for_selector("body[data-route-first=app]")

    page.click("#reader-route-start")

    page.wait_for_selector('#card-flow .problem[data-problem="bridge_unavailable"]:not([hidden])')
    assert page.locator("#card-flow").is_visible()


@pytest.fixture
def telehealth_app(world):
    world.settings.CONSENT_WEBHOOK_INLINE = "sync"
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


def test_telehealth_from_the_app_api_on_the_patients_phone_back_to_the_app(
    world, phone, open_page, telehealth_app
):
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
                "state": "visit-5150",
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
    for _step in range(3):  # about, the requested items (with the booked date), confirm
        page.click("#next")
    prove_in_app(page, shoot)
    page.wait_for_selector("#return-to-app")
    shoot("done")
    page.click("#return-to-app")
    page.wait_for_selector("#app")

    assert "status=registered" in page.url and "state=visit-5150" in page.url
    consent = Consent.objects.get(person=world.person)
    assert consent.authenticator == "app" and consent.visit_date == visit
    assert ConsentSession.objects.get(session_id=session["session_id"]).consent == consent
    headers, body = _App.received[0]
    assert verify_webhook(secret, headers, body)["data"]["consent_id"] == consent.pk
    assert_pin_never_sent_to_service(recorder, world.base)


def test_portal_sign_in_and_a_cancellation_on_a_phone_through_the_app(world, phone, open_page):
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url)
    page.click("#start-home")
    page.click("#next")
    choose_and_confirm(page, shoot)
    prove_in_app(page, shoot)
    page.wait_for_selector("#done-title")
    consent = Consent.objects.get(person=world.person)

    page.goto(world.base + "/portal/signin/")
    prove_in_app(page, shoot)
    page.wait_for_url(world.base + "/portal/")
    page.goto(world.base + f"/portal/consents/{consent.pk}/cancel/")
    prove_in_app(page, shoot)
    page.wait_for_url(world.base + "/portal/consents/")
    shoot("cancelled")

    consent.refresh_from_db()
    assert consent.status == ConsentStatus.CANCELLED
    page.goto(world.base + "/portal/access/?own=1")
    assert "認証アプリ" in page.inner_text("main")
    assert AccessEvent.objects.filter(person=world.person, detail__route="app").exists()
    assert_pin_never_sent_to_service(recorder, world.base)
