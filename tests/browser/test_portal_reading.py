"""The portal on a 390x844 phone (issue 12, items 6 and 7), with the real server, bridge and virtual card:

- item 6: checkup charts on fixed clinical axes, the reference range shaded with its source named, values
  outside it (blood pressure 140/94, HDL 35) flagged in the chart, the table and the summary;
- item 7: the medicines page leads with what is taken now and folds the history by month; expenses read
  at 390 px in English with larger text (窓口負担 visible, names not broken a character a line); the
  header leaves most of the first screen to the page.
Screenshots go to test-artifacts/portal/.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import CheckupResult, ExpenseNotice, Institution, MedicationRecord
from tests.portal.records import add_records

from .conftest import PHONE
from .test_portal import shooter, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def records(world):
    """Records of every kind, a latest checkup with blood pressure 140/94 and HDL 35, two medicines
    dispensed every four weeks for two years, and an institution with a long name."""
    pharmacy = Institution.objects.create(code=with_check_digit("134765432"), name="さくら薬局")
    add_records(world.person, world.institution, pharmacy, "")
    today = timezone.localdate()
    latest = today - datetime.timedelta(days=20)
    for code, name, value, unit in [
        ("9A751000000000001", "収縮期血圧（その他）", "140", "mmHg"),
        ("9A761000000000001", "拡張期血圧（その他）", "94", "mmHg"),
        ("3F070000002327101", "HDLコレステロール", "35", "mg/dl"),
        ("3D046000001906202", "HbA1c（NGSP）", "5.0", "%"),
    ]:
        CheckupResult.objects.create(
            person=world.person,
            checked_on=latest,
            institution_name="健診センター",
            item_code=code,
            item_name=name,
            value=value,
            unit=unit,
        )
    for step in range(26):
        day = today - datetime.timedelta(days=28 * step + 3)
        for drug_code, drug, usage in [
            ("2149039F1", "アムロジピンOD錠5mg「トーワ」", "1日1回朝食後"),
            ("3969007F1", "メトホルミン塩酸塩錠250mgMT「DSEP」", "1日2回朝夕食後"),
        ]:
            MedicationRecord.objects.create(
                person=world.person,
                source="dispensing",
                dispensed_on=day,
                prescribed_on=day,
                dispensing_institution=pharmacy,
                prescribing_institution=world.institution,
                drug_code=drug_code,
                drug_name=drug,
                ingredient_name="成分",
                quantity=Decimal("1"),
                unit="錠",
                usage=usage,
                days=28,
            )
    hospital = Institution.objects.create(
        code=with_check_digit("131111111"), name="東京都立多摩総合医療センター附属在宅医療連携室"
    )
    ExpenseNotice.objects.create(
        person=world.person,
        month=datetime.date(today.year, 3, 1),
        institution=hospital,
        institution_name=hospital.name,
        care_kind="医科入院外",
        days=3,
        total_cost=123450,
        patient_paid=37035,
    )
    return pharmacy


def test_checkup_charts_use_clinical_axes_and_flag_values_outside_the_reference_range(
    world, reader, card_for, open_page, records
):
    reader(card_for())
    page, _recorder, _shoot = open_page(PHONE)
    shoot = shooter(page, "reading-checkups")
    sign_in(page, world.base)

    page.goto(f"{world.base}/portal/checkups/")
    bp = page.locator("figure[data-chart=blood_pressure]")
    # the latest 140/94 is ringed as past the 受診勧奨判定値, in the chart, the table and the summary
    assert bp.locator("svg .chart-point[data-flag=referral]").count() == 2
    assert bp.locator("svg .reference-band").count() == 2
    assert "受診勧奨判定値" in bp.locator(".chart-summary").inner_text()
    bp.locator("details summary").click()
    assert bp.locator("td.out-of-range[data-flag=referral]").count() == 2
    # HDL 35: below the 保健指導判定値 40, flagged; the source of the values is on the page
    hdl = page.locator("figure[data-chart=hdl]")
    assert hdl.locator("svg .chart-point[data-flag=guidance]").count() == 1
    assert "基準範囲の外" in hdl.locator(".chart-summary").inner_text()
    assert "標準的な健診・保健指導プログラム" in page.inner_text("#reference-source")
    # HbA1c on whole percents, not zoomed to 4.9–5.0
    ticks = page.locator("figure[data-chart=hba1c] svg text.tick:not(.date)").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert ticks == ["4", "5", "6", "7", "8", "9", "10"]
    shoot("checkups")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not page.csp_errors, page.csp_errors


def test_medicines_lead_with_what_is_taken_now_and_expenses_read_on_a_phone(
    world, reader, card_for, open_page, records
):
    reader(card_for())
    page, _recorder, _shoot = open_page(PHONE)
    shoot = shooter(page, "reading-medicines")
    sign_in(page, world.base)

    # the header leaves most of the first screen to the page: its heading starts in the top third
    page.goto(f"{world.base}/portal/medication/")
    top = page.evaluate("document.querySelector('main h1').getBoundingClientRect().top")
    assert top < PHONE["height"] / 3, top
    # the current medicines come first: what, how much, since when, from where
    current = page.locator("#current-medicines li.current-medicine")
    names = current.locator(".record-title").all_inner_texts()
    assert "アムロジピンOD錠5mg「トーワ」" in names and "メトホルミン塩酸塩錠250mgMT「DSEP」" in names
    text = current.first.inner_text()
    assert "用量" in text and "28日分" in text and "から" in text and world.institution.name in text
    # the history is folded by month: two medicines over two years is a short page
    height = page.evaluate("document.documentElement.scrollHeight")
    assert page.locator("#medication-history details.month[open]").count() == 0
    assert height < 6000, height
    shoot("medicines")
    page.locator("#medication-history details.month summary").first.click()
    shoot("medicines-month-open")

    # expenses in English with larger text: every column readable without sideways scrolling
    page.click("form.text-size button")
    page.click("form.language-switch button[value=en]")
    page.goto(f"{world.base}/portal/expenses/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    paid = page.locator("table.expenses tbody td.paid")
    assert paid.count() >= 3
    for index in range(paid.count()):
        box = paid.nth(index).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    scroll = page.locator(".table-scroll").first
    assert scroll.evaluate("e => e.scrollWidth <= e.clientWidth")
    name = page.locator("table.expenses tbody td", has_text="東京都立多摩総合医療センター").first
    assert name.bounding_box()["width"] > 150  # not a character a line
    shoot("expenses-en-large")

    # the filters and registration as Forms: a refused input says what to do, with its code
    page.click("form.language-switch button[value=ja]")
    page.goto(f"{world.base}/portal/access/?from=2026-05-01&to=2026-04-01")
    assert page.get_attribute("#form-error", "data-code") == "portal_filter_range_reversed"
    shoot("access-range-refused")
    page.click("form.signout button")
    page.goto(f"{world.base}/portal/register/")
    page.fill("#insurer_number", "0113001")  # a digit short of 8
    page.fill("#number", "5678")
    page.fill("#birth_date", "1948-04-02")
    page.click("form.stacked-form button[type=submit]")
    assert page.get_attribute("#insurer_number-error", "data-code") == "insurer_number_invalid"
    assert page.get_attribute("#insurer_number", "aria-invalid") == "true"
    shoot("register-refused")
    assert not page.csp_errors, page.csp_errors
