"""Issue 12 items 1, 3, 4 and 5 in Chromium at 390x844: the real server, the real reader bridge and virtual
cards on nfcpy udp. Screenshots of every changed page go to test-artifacts/consent/.

1. A shared tablet: one browser context, two patients with two cards; Back after 次の方 shows nothing of
   the previous patient and registers nothing; Back from done plus the PIN registers no duplicate.
3. Every refusal panel offers what to do next, in plain words, with its code; none shows developer text.
4. Progress on screen and the main button on the first screen; keep the card on the reader; a card
   lifted mid-way says whether a PIN try may have been used; an app's session never shows a screen
   that only repeats its booked date.
5. The done page says where to look next and links there.
"""

import base64
import datetime
import json
from urllib.request import Request, urlopen

import pytest

from homeconsent.consent.models import Consent, ConsentSession
from homeconsent.registry.models import Person, Qualification

from .conftest import ARTIFACTS, PHONE, PIN
from .test_consent_flow import enter_pin, telehealth_app, wait_state  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Developer text that must never reach a patient's page.
DEVELOPER_TEXT = ("manage.py", "reader_bridge", "--device", "Traceback", "HomeConsentError", "python ")


def second_person(world):
    person = Person.objects.create(
        name="佐藤 次郎", name_kana="サトウ ジロウ", sex="1", birth_date=datetime.date(1950, 7, 9)
    )
    first = world.person.qualifications.get()
    Qualification.objects.create(
        person=person,
        insurer=first.insurer,
        symbol="1234",
        number="9999",
        branch="00",
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="010",
        personal_family="1",
    )
    return person


def shoot_screen(page, name):
    """What a person sees at 390x844 without scrolling (the shoot fixture saves whole pages)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"first-screen-{name}.png"))


def on_first_screen(page, selector):
    """Whether the element lies wholly inside the 390x844 viewport as the page opens (no scrolling)."""
    page.evaluate("window.scrollTo(0, 0)")
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


def through_to_pin(page, shoot, items=("medication",), share_limit=True, check_layout=False):
    """From the first screen of the home-visit flow to the PIN, checking the phone layout on the way."""
    for name in ("about", "items", "limit", "confirm"):
        page.wait_for_selector("#next")
        if check_layout:
            assert on_first_screen(page, "#flow-progress"), name
            assert on_first_screen(page, "#next"), name
            shoot_screen(page, f"home-{name}")
        if name == "items":
            for item in items:
                page.check(f"#item-{item}")
        if name == "limit":
            page.check("#limit-yes" if share_limit else "#limit-no")
        shoot(name)
        page.click("#next")
    wait_state(page, "pin")


# --- 1. a shared tablet ------------------------------------------------------------------------------
def test_the_next_patient_on_one_tablet_sees_and_signs_nothing_of_the_previous_one(
    world, reader, card_for, open_page
):
    # Given one tablet (one browser context) and the first patient's card on the reader
    reader(card_for())
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url)
    page.click("#start-home")
    through_to_pin(page, shoot, items=("medication", "checkup"), share_limit=True)
    enter_pin(page, PIN)
    page.wait_for_selector("#done-title")
    # The done page says whose consent it is, as on the card
    assert world.person.name in page.inner_text("#done-person")
    shoot("done-first-patient")
    # When the first patient presses Back from done and enters the PIN again: nothing more is signed
    page.go_back()
    page.wait_for_selector("#done-title")  # Back from done leads to done: the card step is over
    assert page.locator("#pin").count() == 0
    assert Consent.objects.filter(person=world.person).count() == 1

    # When the tablet goes to the next patient (次の方の同意を始める) and Back is pressed twice
    page.click("#start-over")
    page.wait_for_selector("#start-home")
    second = second_person(world)
    reader(card_for(second))  # the second patient's card on the reader
    page.go_back()
    page.wait_for_selector("#ended-title")
    shoot("back-once-ended")
    first_view = page.inner_text("main")
    page.go_back()
    page.wait_for_selector("#ended-title")
    shoot("back-twice-ended")
    second_view = page.inner_text("main")
    # Then each page says the procedure ended, and nothing of the previous patient is shown
    for text in (first_view, second_view):
        assert world.person.name not in text and "薬剤" not in text and "限度額" not in text
        assert (
            "この同意の手続きは終わりました" in text and "お問い合わせ用コード: consent_draft_ended" in text
        )
    assert page.locator("#pin").count() == 0 and page.locator("#card-flow").count() == 0

    # And the next patient's own flow registers their own choices only
    page.click("#start-again")
    page.wait_for_selector("#start-home")
    page.click("#start-home")
    through_to_pin(page, shoot, items=("treatment",), share_limit=False)
    enter_pin(page, PIN)
    page.wait_for_selector("#done-title")
    assert second.name in page.inner_text("#done-person") and world.person.name not in page.inner_text("main")
    assert [c.items for c in Consent.objects.filter(person=second)] == [["qualification", "treatment"]]
    assert [c.items for c in Consent.objects.filter(person=world.person)] == [
        ["checkup", "limit_certificate", "medication", "qualification"]
    ]
    recorder.assert_pin_never_sent_to_server()
    assert not page.csp_errors, page.csp_errors


# --- 3. every refusal panel offers a way forward -------------------------------------------------------
def test_a_locked_pin_offers_what_to_do_today_and_a_way_to_finish(world, reader, card_for, open_page):
    reader(card_for(tries_left=0))
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    through_to_pin_or_problem(page, shoot)
    panel = page.locator('.problem[data-problem="pin_locked"]')
    panel.wait_for()
    shoot("pin-locked")
    text = panel.inner_text()
    assert "今日の受診について" in text and "お問い合わせ用コード: pin_locked" in text
    finish = panel.locator('[data-action="finish"]')
    assert finish.is_visible() and finish.bounding_box()["height"] >= 44
    # No panel on the page carries developer text, shown or folded
    for problem in page.locator("#card-flow .problem").all():
        content = problem.text_content()
        assert not any(word in content for word in DEVELOPER_TEXT), content
    finish.click()
    page.wait_for_selector("#start-home")


def through_to_pin_or_problem(page, shoot):
    for name in ("about", "items", "limit", "confirm"):
        page.wait_for_selector("#next")
        if name == "limit":
            page.check("#limit-no")
        page.click("#next")


def app_session(world, app, secret, app_base, visit, state):
    request = Request(
        world.base + "/consent/api/v1/sessions",
        data=json.dumps(
            {
                "institution": world.institution.code,
                "visit_date": visit.isoformat(),
                "items": ["qualification", "medication"],
                "return_url": app_base + "/back",
                "state": state,
            }
        ).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode(),
        },
        method="POST",
    )
    with urlopen(request, timeout=10) as response:
        return json.load(response)


def test_in_an_app_session_a_refusal_goes_back_to_the_app_with_a_status(
    world, reader, card_for, open_page, telehealth_app
):
    # Given a patient sent by a telehealth app, whose card's certificate has expired
    app, secret, app_base = telehealth_app
    reader(card_for(expired=True))
    visit = datetime.date.today() + datetime.timedelta(days=1)
    session = app_session(world, app, secret, app_base, visit, "visit-77")
    page, recorder, shoot = open_page(PHONE)
    visited = []
    page.on("framenavigated", lambda frame: visited.append(frame.url) if frame == page.main_frame else None)
    page.goto(session["url"])
    # (4) the about screen names the booked day; no screen only repeats it
    assert f"{visit.month}月{visit.day}日" in page.inner_text("#consent-period")
    for name in ("about", "requested", "confirm"):
        page.wait_for_selector("#next")
        assert page.inner_text("#flow-progress").startswith("ステップ")
        shoot(f"app-{name}")
        page.click("#next")
    assert not any("/telehealth/date/" in url for url in visited), visited
    enter_pin(page, PIN)
    panel = page.locator('.problem[data-problem="certificate_expired"]')
    panel.wait_for()
    shoot("app-certificate-expired")
    assert "オンライン診療のはじめに" in panel.inner_text()
    # When the patient goes back to the app from the panel
    panel.locator('[data-action="return-to-app"]').click()
    page.wait_for_selector("#app")
    # Then the app learns the session was declined, and nothing was registered
    assert "status=declined" in page.url and "state=visit-77" in page.url
    assert ConsentSession.objects.get(session_id=session["session_id"]).status == "declined"
    assert not Consent.objects.exists()


# --- 4. the flow on a phone -----------------------------------------------------------------------------
def test_progress_and_the_main_button_are_on_the_first_screen_of_every_step(
    world, reader, card_for, open_page
):
    reader(card_for())
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    through_to_pin(page, shoot, items=("medication", "treatment", "checkup", "operation"), check_layout=True)
    # The PIN step says to keep the card on the reader until it is done
    assert "置いたまま" in page.inner_text("#keep-card")
    assert page.inner_text("#flow-progress").startswith("ステップ 5 / 5")
    shoot("pin")


def test_a_card_lifted_while_the_pin_is_checked_says_a_try_may_be_used(world, reader, card_for, open_page):
    running = reader(card_for())
    target = running.target
    card = target.card
    transmit = card.transmit

    def lifted_at_verify(command):
        # The card leaves the field as the PIN reaches it: its answer never gets back to the reader.
        if len(command) > 5 and command[1] == 0x20:
            target._present.clear()
        return transmit(command)

    card.transmit = lifted_at_verify
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    through_to_pin(page, shoot)
    enter_pin(page, PIN)
    panel = page.locator('.problem[data-problem="card_removed"]')
    panel.wait_for()
    shoot("card-lifted-during-pin")
    assert page.locator("#card-flow").get_attribute("data-problem") == "card_removed"
    assert panel.locator('[data-pin-tried="yes"]').is_visible()
    assert panel.locator('[data-pin-tried="no"]').is_hidden()
    assert (
        "1回減っています" in panel.inner_text() and "お問い合わせ用コード: card_removed" in panel.inner_text()
    )
    assert not Consent.objects.exists()
    # When the card is back and the patient tries again, the tries left are read from the card and it goes on
    card.transmit = transmit
    target.insert()
    panel.locator('[data-action="retry"]').click()
    wait_state(page, "pin")
    enter_pin(page, PIN)
    page.wait_for_selector("#done-title")
    assert Consent.objects.filter(person=world.person).count() == 1


def test_a_card_lifted_before_the_pin_says_no_try_was_used(world, reader, card_for, open_page):
    running = reader(card_for())
    target, card = running.target, running.target.card
    transmit = card.transmit
    reads = []

    def lifted_while_reading(command):
        if command[1] == 0xB0:  # READ BINARY: the certificate is being read, before any PIN
            reads.append(command)
            if len(reads) == 2:
                target._present.clear()
        return transmit(command)

    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    through_to_pin(page, shoot)
    card.transmit = lifted_while_reading
    enter_pin(page, PIN)
    panel = page.locator('.problem[data-problem="card_removed"]')
    panel.wait_for()
    shoot("card-lifted-while-reading")
    assert panel.locator('[data-pin-tried="no"]').is_visible()
    assert "減っていません" in panel.inner_text()


# --- 5. the done page says where to look next ------------------------------------------------------------
def test_the_done_page_links_to_the_portal_and_the_institutions_inquiry_page(
    world, reader, card_for, open_page
):
    reader(card_for())
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    through_to_pin(page, shoot)
    enter_pin(page, PIN)
    page.wait_for_selector("#done-title")
    shoot("done")
    assert page.locator("#to-portal").get_attribute("href") == "/portal/"
    assert page.locator("#to-inquiry").get_attribute("href") == f"/consent/e/{world.entry.token}/mine/"
    assert world.institution.name in page.inner_text("#to-inquiry")
    page.click("#to-inquiry")
    page.wait_for_selector("h1")
    assert "/mine/" in page.url and page.locator("#next").is_visible()


def test_the_telehealth_flow_from_the_entry_page_shows_its_steps_on_a_phone(
    world, reader, card_for, open_page
):
    reader(card_for())
    visit = datetime.date.today() + datetime.timedelta(days=3)
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "telehealth/")
    assert on_first_screen(page, "#next") and page.inner_text("#flow-progress").startswith("ステップ 1 / 6")
    shoot("telehealth-about")
    page.click("#next")
    page.wait_for_selector("#visit_date")
    assert on_first_screen(page, "#next") and page.inner_text("#flow-progress").startswith("ステップ 2 / 6")
    page.fill("#visit_date", "2001-01-01")
    page.click("#next")
    page.wait_for_selector('#visit_date_error[data-code="visit_date_past"]')
    shoot("telehealth-visit-date-refused")
    page.fill("#visit_date", visit.isoformat())
    page.click("#next")
    page.wait_for_selector("#item-medication")
    assert page.inner_text("#flow-progress").startswith("ステップ 3 / 6")


def test_a_card_step_left_open_in_another_tab_signs_nothing_once_the_next_patient_started(
    world, reader, card_for, open_page
):
    # Given the first patient's card step waiting for the PIN in one tab of the tablet
    reader(card_for())
    page, recorder, shoot = open_page(PHONE)
    page.goto(world.entry_url + "home/")
    through_to_pin(page, shoot)
    # When the next patient starts in another tab of the same browser
    other = page.context.new_page()
    other.goto(world.entry_url)
    other.wait_for_selector("#start-home")
    # Then the PIN typed into the old tab registers nothing, and the tab says the procedure ended
    enter_pin(page, PIN)
    panel = page.locator('.problem[data-problem="consent_draft_ended"]')
    panel.wait_for()
    shoot("stale-card-step")
    assert "お問い合わせ用コード: consent_draft_ended" in panel.inner_text()
    assert not Consent.objects.exists()
    recorder.assert_pin_never_sent_to_server()
