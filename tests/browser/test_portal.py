"""The patient portal in Chromium: the real server (live_server), the real reader bridge and a virtual
card on nfcpy udp (fixtures of tests/browser/conftest.py), an institution's system calling the real
API over HTTP. Screenshots go to test-artifacts/portal/.
"""

import csv
import io
from pathlib import Path

import pytest

from homeconsent.consent.challenges import verify_card_authentication
from homeconsent.consent.models import Consent, ConsentStatus
from homeconsent.consent.services import do_register_consent, issue_consent_challenge
from homeconsent.jpki.card import VirtualJPKICard
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution
from tests.cards import card_answer
from tests.portal.records import add_records

from .conftest import DESKTOP, PHONE, PIN
from .institution_system import InstitutionSystem

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"


def consent_given_with(card_path, institution):
    """A home-visit consent registered as the consent pages do it, signed by this card."""
    items = ["qualification", "medication", "checkup", "treatment"]
    challenge = issue_consent_challenge(institution, kind="home_visit", items=items)
    certificate, signature = card_answer(VirtualJPKICard.load(card_path), challenge.digest_info(), PIN)
    verified = verify_card_authentication(challenge.nonce, certificate, signature, "consent")
    return do_register_consent(verified, kind="home_visit", items=items)


def shooter(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))
    return lambda step: page.screenshot(
        path=str(SHOTS / f"{name}-{next(counter):02d}-{step}.png"), full_page=True
    )


def sign_in(page, base):
    page.goto(base + "/portal/")
    assert page.url.endswith("/portal/signin/")
    page.click("[data-step=start] [data-action=start]")
    page.wait_for_selector("#card-flow[data-state=pin]")
    page.fill("#pin", PIN)
    page.click("#pin-submit")
    page.wait_for_url(base + "/portal/")


def assert_touch_targets(page):
    sizes = page.eval_on_selector_all(
        "main a.button, main button, main .portal-nav a, main select, main input:not([type=hidden]), main summary",
        "els => els.filter(e => e.offsetParent !== null)"
        ".map(e => [e.id || e.textContent.trim().slice(0, 20), e.getBoundingClientRect().height])",
    )
    small = [(name, h) for name, h in sizes if h < 44]
    assert not small, small


def download_csv(page, selector):
    with page.expect_download() as info:
        page.click(selector)
    raw = Path(info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_the_portal_on_a_phone_sign_in_records_cancel_and_access_history(world, reader, card_for, open_page):
    pharmacy = Institution.objects.create(code=with_check_digit("134765432"), name="さくら薬局")
    add_records(world.person, world.institution, pharmacy, "")
    card = card_for()
    consent = consent_given_with(card, world.institution)
    system = InstitutionSystem(world.base, world.institution)
    status, before = system.read_medication(world.person)
    assert status == 200, before
    reader(card)
    page, recorder, _ = open_page(PHONE)
    shoot = shooter(page, "phone")

    sign_in(page, world.base)
    assert "山田 花子" in page.inner_text("h1") and page.locator("html").get_attribute("lang") == "ja"
    assert_touch_targets(page)
    shoot("home")

    page.click('.portal-nav a[href="/portal/qualifications/"]')
    assert "1割" in page.inner_text("main") and "全国健康保険協会東京支部" in page.inner_text("main")
    shoot("qualifications")

    page.goto(world.base + "/portal/medication/")
    assert page.locator("[data-source=claims]").count() == 1
    assert page.locator("[data-source=e_prescription]").count() == 1
    assert page.locator("[data-source=dispensing]").count() == 1
    assert "レセプト" in page.inner_text("main") and "電子処方箋" in page.inner_text("main")
    page.fill("#q", "メトホルミン")
    page.click("form.search button")
    found = (
        "#medication-history .record.medication"  # the history under the search (current medicines above it)
    )
    assert page.locator(found).count() == 1 and "メトホルミン" in page.inner_text(found)
    assert_touch_targets(page)
    shoot("medication-search")

    page.goto(world.base + "/portal/checkups/")
    hba1c = page.locator("figure[data-chart=hba1c]")
    points = hba1c.locator("svg .chart-point")
    assert [points.nth(i).get_attribute("data-value") for i in range(points.count())] == ["5.6", "5.9", "6.1"]
    hba1c.locator("summary").click()
    cells = hba1c.locator("tbody td").all_inner_texts()
    # each value, flagged: 5.6 % and above is past the 保健指導判定値 (portal/checkup_ranges.py)
    assert [c.split()[0] for c in cells] == ["5.6", "5.9", "6.1"] and hba1c.locator(
        "table caption"
    ).count() == 1
    assert hba1c.locator("tbody td.out-of-range[data-flag=guidance]").count() == 3
    assert "6.1" in hba1c.locator(".chart-summary").inner_text()
    assert page.locator("figure[data-chart=blood_pressure] svg .chart-point").count() == 6
    shoot("checkups")

    page.goto(world.base + "/portal/treatment/")
    assert "在宅患者訪問診療料" in page.inner_text("main")

    page.goto(world.base + "/portal/expenses/")
    rows = download_csv(page, "#expenses-csv")
    assert rows[0][0] == "診療年月" and len(rows) == 4
    assert sum(int(r[4]) for r in rows[1:]) == 15600 + 8420 + 7100
    assert sum(int(r[5]) for r in rows[1:]) == 4680 + 2526 + 2130
    shoot("expenses")

    page.goto(world.base + "/portal/consents/")
    assert world.institution.code in page.inner_text(f"[data-consent='{consent.pk}']")
    shoot("consents")
    page.click(f"[data-consent='{consent.pk}'] a.button.danger")
    page.click("[data-step=start] [data-action=start]")
    page.wait_for_selector("#card-flow[data-state=pin]")
    shoot("cancel-pin")
    page.fill("#pin", PIN)
    page.click("#pin-submit")
    page.wait_for_selector("#cancelled")
    shoot("cancelled")
    assert Consent.objects.get(pk=consent.pk).status == ConsentStatus.CANCELLED

    status, after = system.read_medication(world.person)
    assert status in (403, 404), (status, after)

    page.goto(world.base + "/portal/access/")
    assert "verification ok" in page.get_attribute("#log-verification", "class")
    row = page.locator(f"tr[data-institution='{world.institution.code}'][data-basis='consent']").first
    assert world.institution.name in row.inner_text() and world.institution.code in row.inner_text()
    assert "薬剤" in row.inner_text() or "お薬" in row.inner_text() or "Medicines" in row.inner_text()
    assert "改ざんされていないことを確認しました" in page.inner_text("#log-verification h2")
    assert page.locator("tr[data-basis='self']").count() == 0  # own views only when asked for
    cancelled = page.locator("table.consent-events tr[data-action='consent_cancelled']")
    assert "ご本人" in cancelled.locator(".who").inner_text() and "同意の取消" in cancelled.inner_text()
    page.click("#own-toggle")
    assert page.locator("tr[data-basis='self']").count() > 0
    page.goto(world.base + "/portal/access/")
    page.select_option("#basis", "self")
    page.click("form.filters button[type=submit]")
    assert page.locator("tr[data-basis]").count() == page.locator("tr[data-basis='self']").count() > 0
    page.goto(world.base + "/portal/access/?institution=" + world.institution.code)
    history = download_csv(page, "#access-csv")
    assert (
        history[0][0] == "日時"
        and all(r[1] == world.institution.code for r in history[1:])
        and len(history) > 2
    )
    assert_touch_targets(page)
    shoot("access")

    assert not page.csp_errors, page.csp_errors
    recorder.assert_pin_never_sent_to_server()
    assert [pin for _url, pin in recorder.pins_sent_to_bridge()] == [PIN, PIN]


def test_the_portal_on_a_desktop_larger_text_english_and_sign_out(world, reader, card_for, open_page):
    add_records(world.person, world.institution, world.institution, "")
    reader(card_for())
    page, recorder, _ = open_page(DESKTOP)
    shoot = shooter(page, "desktop")

    sign_in(page, world.base)
    page.goto(world.base + "/portal/checkups/")
    assert page.locator("svg.chart").count() == 4
    shoot("checkups")
    page.click("form.text-size button")
    assert "large-text" in page.get_attribute("body", "class")
    page.goto(world.base + "/portal/access/")
    assert "large-text" in page.get_attribute("body", "class")  # remembered
    shoot("access-large")
    page.click("form.language-switch button[value=en]")
    assert "Who looked at my data" in page.inner_text("h1")
    shoot("access-en")
    page.click("form.signout button")
    page.goto(world.base + "/portal/medication/")
    assert page.url.endswith("/portal/signin/")
    assert not page.csp_errors, page.csp_errors
    recorder.assert_pin_never_sent_to_server()


def test_registering_a_new_card_for_insurance_use_then_signing_in_with_it(world, reader, open_page, settings):
    from cryptography import x509

    from homeconsent.jpki.card import VirtualJPKICard, issue_card_file
    from homeconsent.jpki.pki import TestPKI, do_register_card_certificate
    from homeconsent.registry.models import CardCertificate

    card = issue_card_file(
        TestPKI(settings.JPKI_PKI_DIR).init(),
        world.tmp_path / "new-card.json",
        pin=PIN,
        birth_date=world.person.birth_date,
    )
    # J-LIS's part: the registry knows whose card this is; registration links it to the insurance.
    certificate = x509.load_der_x509_certificate(VirtualJPKICard.load(card).auth_cert_der)
    do_register_card_certificate(world.person, certificate, registered_for_insurance_use=False)
    reader(card)
    page, recorder, _ = open_page(PHONE)
    shoot = shooter(page, "register")

    page.goto(world.base + "/portal/register/")
    page.fill("#insurer_number", "01130012")
    page.fill("#symbol", "1234")
    page.fill("#number", "5678")
    page.fill("#branch", "00")
    page.fill("#birth_date", world.person.birth_date.isoformat())
    assert_touch_targets(page)
    shoot("form")
    page.click("form.stacked-form button[type=submit]")
    page.click("[data-step=start] [data-action=start]")
    page.wait_for_selector("#card-flow[data-state=pin]")
    page.fill("#pin", PIN)
    page.click("#pin-submit")
    page.wait_for_url(world.base + "/portal/register/done/")
    shoot("done")

    assert CardCertificate.objects.get(person=world.person).registered_for_insurance_use
    sign_in(page, world.base)
    assert world.person.name in page.inner_text("h1")
    recorder.assert_pin_never_sent_to_server()
