"""A qualification-only site (資格確認限定型) end to end in Chromium: a 柔道整復 施術所 (Japanese, on a
phone) and a health-check centre (English, on a desktop). From the entry page through the card step
(reader bridge, virtual card on nfcpy udp) to the consent, then the site's own system on the real API:
eligibility read, medical reads refused with their code. The pages say why no medical item is offered.
Screenshots go to test-artifacts/consent/.
"""

import pytest

from homeconsent.audit.models import AccessEvent
from homeconsent.consent.models import Consent, ConsentStatus

from .conftest import DESKTOP, PHONE, PIN
from .institution_system import InstitutionSystem
from .test_consent_flow import assert_touch_targets, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SITES = {
    # name, language, viewport, the reason as the page says it
    "judo_therapy": (
        "さくら接骨院",
        "ja",
        PHONE,
        "この施設は資格確認のみを行う施設（柔道整復・あはき施術所、健診機関）のため、薬剤情報などの医療情報",
    ),
    "health_check_centre": (
        "みなと健診センター",
        "en",
        DESKTOP,
        "This institution only confirms health insurance (a judo therapy, acupuncture or massage clinic, "
        "or a health-check centre), so medical information",
    ),
}


def reason_shown(page, reason):
    """The reason is on the page, plainly visible and at least as large as the body text (18 px)."""
    notice = page.locator("#qualification-only")
    assert notice.is_visible()
    assert reason in " ".join(notice.inner_text().split())
    size = notice.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 20, size


@pytest.mark.parametrize("site", SITES)
def test_a_qualification_only_site_from_the_entry_page_to_the_api(site, world, reader, card_for, open_page):
    name, language, viewport, reason = SITES[site]
    world.institution.name = name
    world.institution.qualification_only = True
    world.institution.save()
    reader(card_for())
    page, recorder, shoot = open_page(viewport)

    # the entry page says what the site does and why no medical information goes to it
    page.goto(world.entry_url)
    if language == "en":
        page.click(".language-switch button[value=en]")
        page.wait_for_selector("html[lang=en]")
    reason_shown(page, reason)
    shoot(f"{site}-entry")
    page.click("#start-home")
    reason_shown(page, reason)
    page.click("#next")

    # the item step offers nothing medical, and says why
    page.wait_for_selector("#qualification-only")
    assert page.locator("input[type=checkbox]").count() == 0
    reason_shown(page, reason)
    assert_touch_targets(page)
    shoot(f"{site}-items")
    page.click("#next")
    page.check("#limit-no")
    page.click("#next")

    # the confirmation shares health insurance only, and says why
    page.wait_for_selector("#summary-shared")
    assert page.locator("#summary-shared li").count() == 1
    reason_shown(page, reason)
    shoot(f"{site}-confirm")
    page.click("#next")

    # the card step: the PIN goes to the reader bridge only
    wait_state(page, "pin")
    page.fill("#pin", PIN)
    page.click("#pin-submit")
    page.wait_for_selector("#done-title")
    reason_shown(page, reason)
    assert page.locator("#done-shared li").count() == 1
    shoot(f"{site}-done")
    consent = Consent.objects.get(person=world.person)
    assert consent.status == ConsentStatus.ACTIVE and consent.items == ["qualification"]
    recorder.assert_pin_never_sent_to_server()
    assert [pin for _url, pin in recorder.pins_sent_to_bridge()] == [PIN]
    assert not page.csp_errors, page.csp_errors

    # the site's system reads eligibility over the API with a real token (no medical scope exists for it)
    system = InstitutionSystem(world.base, world.institution, scopes=("qualification.read", "consent.read"))
    patient = system.patient_id(world.person)
    status, eligibility = system.get(f"patients/{patient}/eligibility")
    assert status == 200, eligibility
    assert eligibility["qualification"]["insurer_number"] == "01130012"

    # and a medical read, JSON or FHIR, is refused with its code and the reason, and logged
    status, refused = system.get(f"patients/{patient}/medication")
    assert status == 403 and refused["code"] == "medical_read_qualification_only"
    assert name in refused["message"] and "資格確認のみを行う施設" in refused["message"]
    status, outcome = system.get(f"fhir/Observation?patient={patient}")
    assert status == 403 and outcome["resourceType"] == "OperationOutcome"
    assert "medical_read_qualification_only" in str(outcome)
    refusals = AccessEvent.objects.filter(person=world.person, outcome="refused", basis="qualification_only")
    assert sorted(row.items[0] for row in refusals) == ["checkup", "medication"]
