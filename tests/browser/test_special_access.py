"""救急時 and 災害時 in Chromium: the real server (live_server), the real reader bridge and a virtual card
on nfcpy udp. A hospital doctor with the emergency permission signs in to the console (password +
TOTP), reads the patient's card without the PIN and sees the emergency summary; a pharmacist inside
an open disaster scope finds the same patient by name and birth date and sees medicines and
checkups; then the patient signs in to the portal and meets both as notices and in the history.
Phone width (390 px) throughout. Screenshots go to test-artifacts/special-access/.
"""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from homeconsent.accounts import services as accounts
from homeconsent.accounts.models import StaffRole
from homeconsent.registry.codes import municipality_code, with_check_digit
from homeconsent.registry.models import Institution
from homeconsent.special_access import services
from tests.console.conftest import PASSWORD, Staff, code_for
from tests.portal.records import add_records

from .conftest import PHONE, PIN

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "special-access"
KANAZAWA = municipality_code("17201")


def enrolled(institution, username, role=StaffRole.STAFF) -> Staff:
    membership, token = accounts.do_create_staff(institution, username, role, by="operator:test")
    device = accounts.do_start_enrolment(accounts.enrolment_link(token), PASSWORD, PASSWORD)
    accounts.do_confirm_enrolment(device, code_for(device))
    device.refresh_from_db()
    return Staff(membership, device)


def console_sign_in(page, base, staff: Staff):
    page.goto(base + "/console/signin/")
    page.fill("#username", staff.username)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_url(base + "/console/signin/code/")
    page.fill("#code", staff.next_code())
    page.press("#code", "Enter")
    page.wait_for_url(base + "/console/")


def fits_the_phone(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # A radio's touch target is its label (.check label).
    sizes = page.eval_on_selector_all(
        "main button, main a.button, main input:not([type=hidden]):not([type=radio]), main select, "
        "main .check label",
        "els => els.filter(e => e.offsetParent !== null).map(e => [e.id || e.textContent.trim().slice(0, 20),"
        " e.getBoundingClientRect().height])",
    )
    small = [(name, h) for name, h in sizes if h < 44]
    assert not small, small


def shooter(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))
    return lambda step: page.screenshot(
        path=str(SHOTS / f"{name}-{next(counter):02d}-{step}.png"), full_page=True
    )


def test_emergency_and_disaster_views_and_the_patient_sees_both(world, reader, card_for, open_page):
    base, person = world.base, world.person
    person.address, person.address_municipality_code = "石川県金沢市広坂1丁目1-1", KANAZAWA
    person.save(update_fields=["address", "address_municipality_code"])
    hospital = Institution.objects.create(
        code=with_check_digit("171000011"), name="金沢中央病院", hospital=True
    )
    pharmacy = Institution.objects.create(code=with_check_digit("174000033"), name="さくら薬局 金沢店")
    add_records(person, hospital, pharmacy, "")
    admin = enrolled(hospital, "kanazawa-admin", StaffRole.INSTITUTION_ADMIN)
    doctor = enrolled(hospital, "er-doctor")
    services.do_grant_emergency_permission(doctor.membership, by=admin.membership)
    pharmacist = enrolled(pharmacy, "sakura-pharmacist")
    today = timezone.localdate()
    services.do_open_disaster_scope(
        "令和8年能登半島地震", [KANAZAWA], today, today + datetime.timedelta(days=6), by="op"
    )
    reader(card_for(person))

    # the doctor: 救急時, card read without the PIN
    page, recorder, _ = open_page(PHONE)
    shoot = shooter(page, "emergency")
    console_sign_in(page, base, doctor)
    page.click("a.nav-emergency")
    page.check("input[name=reason][value=unconscious]")
    page.check("input[name=method][value=card]")
    assert page.is_hidden("#by-attributes") and page.is_visible("#by-card")
    fits_the_phone(page)
    shoot("search")
    page.click("#search")
    page.wait_for_selector("#patient-name")
    assert page.text_content("#patient-name") == person.name
    assert page.get_attribute("#basis", "data-basis") == "emergency"
    assert page.is_visible("#medication") and page.is_visible("#treatment") and page.is_visible("#checkups")
    fits_the_phone(page)
    shoot("summary")
    page.click("#detail-medication")
    page.wait_for_url("**item=medication")
    shoot("medication")
    assert not page.csp_errors, page.csp_errors
    assert not any(r["body"] and PIN in r["body"] for r in recorder.requests)

    # the pharmacist: 災害時, by name and birth date
    page, _, _ = open_page(PHONE)
    shoot = shooter(page, "disaster")
    console_sign_in(page, base, pharmacist)
    assert page.locator("a.nav-emergency").count() == 0
    page.click("a.nav-disaster")
    assert "令和8年能登半島地震" in page.text_content("#scopes")
    page.check("input[name=reason][value=oral]")
    page.fill("#name", person.name_kana)
    page.fill("#birth-date", person.birth_date.isoformat())
    fits_the_phone(page)
    shoot("search")
    page.click("#search")
    page.wait_for_selector("#patient-name")
    assert page.get_attribute("#basis", "data-basis") == "disaster"
    assert (
        page.is_visible("#medication")
        and page.is_visible("#checkups")
        and page.locator("#treatment").count() == 0
    )
    fits_the_phone(page)
    shoot("summary")

    # the patient: the start page after sign-in shows the notices
    page, _, _ = open_page(PHONE)
    shoot = shooter(page, "patient")
    page.goto(base + "/portal/")
    page.click("[data-step=start] [data-action=start]")
    page.wait_for_selector("#card-flow[data-state=pin]")
    page.fill("#pin", PIN)
    page.click("#pin-submit")
    page.wait_for_url(base + "/portal/")
    assert page.locator("#notices-banner .notice-row[data-kind=emergency]").count() == 2
    fits_the_phone(page)
    shoot("home")
    page.click("#see-notices")
    page.wait_for_url(base + "/portal/notices/")
    assert page.locator(".notice-row[data-kind=emergency]").count() == 2  # the summary and the medicines
    assert page.locator(".notice-row[data-kind=disaster]").count() == 1
    assert "金沢中央病院" in page.text_content("#notices") and "令和8年能登半島地震" in page.text_content(
        "#notices"
    )
    fits_the_phone(page)
    shoot("notices")
    page.click("#acknowledge button")
    page.wait_for_selector("#notices-done")
    page.goto(base + "/portal/access/")
    history = page.text_content("main")
    assert "救急時の閲覧" in history and "災害時の閲覧" in history
    shoot("history")
    page.goto(base + "/portal/")
    assert page.locator("#notices-banner .notice-row").count() == 0
