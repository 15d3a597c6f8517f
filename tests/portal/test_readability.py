"""What the patient reads (issue 12, items 6 and 7): charts on fixed clinical axes with the 特定健診
reference range shaded and out-of-range values flagged in chart, table and summary; the medicines page
led by what is taken now; expenses that read on a phone; the portal's filters and registration as
Forms that keep their error codes."""

import datetime
import re
from decimal import Decimal

from django.utils import timezone

from homeconsent.registry.models import CheckupResult, MedicationRecord
from portal.charts import Chart, Series, render_svg
from portal.checkup_ranges import GUIDANCE, REFERRAL, reference_for


def _checkup(person, day, code, name, value, unit):
    CheckupResult.objects.create(
        person=person,
        checked_on=day,
        institution_name="健診センター",
        item_code=code,
        item_name=name,
        value=value,
        unit=unit,
    )


def test_a_small_change_is_drawn_on_the_clinical_axis_not_zoomed_to_the_data():
    # given HbA1c 4.9 then 5.0
    chart = Chart(
        "hba1c",
        "HbA1c",
        "%",
        [
            Series(
                "HbA1c",
                [(datetime.date(2024, 5, 1), Decimal("4.9")), (datetime.date(2025, 5, 1), Decimal("5.0"))],
                reference_for("hba1c"),
            )
        ],
    )

    # when it is drawn
    svg = render_svg(chart, title_id="t", desc_id="d", description="")

    # then the axis runs 4 to 10 in whole percent (not 4.9/4.9/5/5/5) and the two points sit close together
    ticks = re.findall(r'class="tick"[^>]*>([^<]+)</text>', svg)
    assert ticks == ["4", "5", "6", "7", "8", "9", "10"]
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)" r="6"', svg)]
    assert len(ys) == 2 and abs(ys[0] - ys[1]) < 6
    # and the reference range (below 5.6) is shaded, with the 受診勧奨判定値 6.5 drawn as a line
    assert svg.count('class="reference-band"') == 1 and svg.count('class="referral-line"') == 1
    assert "data-flag" not in svg


def test_the_judgement_values_flag_what_they_should():
    assert reference_for("sbp").flag(Decimal("140")) == REFERRAL
    assert reference_for("dbp").flag(Decimal("94")) == REFERRAL
    assert (
        reference_for("sbp").flag(Decimal("129")) is None
        and reference_for("sbp").flag(Decimal("130")) == GUIDANCE
    )
    assert reference_for("hdl").flag(Decimal("35")) == GUIDANCE  # 39 or below; 34 or below is 受診勧奨
    assert (
        reference_for("hdl").flag(Decimal("34")) == REFERRAL
        and reference_for("hdl").flag(Decimal("40")) is None
    )
    assert (
        reference_for("hba1c").flag(Decimal("5.6")) == GUIDANCE
        and reference_for("hba1c").flag(Decimal("5.5")) is None
    )
    assert (
        reference_for("waist", "1").flag(Decimal("86")) == GUIDANCE
        and reference_for("waist", "2").flag(Decimal("86")) is None
    )


def test_out_of_range_values_are_flagged_in_chart_table_and_summary(signed_in, me):
    # given blood pressure 140/94 and HDL 35 at the latest checkup
    today = timezone.localdate()
    last = today - datetime.timedelta(days=30)
    _checkup(me.person, last, "9A751000000000001", "収縮期血圧（その他）", "140", "mmHg")
    _checkup(me.person, last, "9A761000000000001", "拡張期血圧（その他）", "94", "mmHg")
    _checkup(
        me.person,
        last - datetime.timedelta(days=365),
        "3F070000002327101",
        "HDLコレステロール",
        "48",
        "mg/dl",
    )
    _checkup(me.person, last, "3F070000002327101", "HDLコレステロール", "35", "mg/dl")

    # when the patient opens their checkups
    page = signed_in.get("/portal/checkups/").content.decode()

    # then the charts ring the points, the tables mark the cells, the summaries say so, the source is named
    bp = page.split('<figure class="trend" data-chart="blood_pressure">', 1)[1].split("</figure>", 1)[0]
    assert 'data-value="140" fill="#0b5cad" data-flag="referral"' in bp and 'data-value="94"' in bp
    svg = bp.split("</svg>", 1)[0]
    # (the fixture's earlier 134/86 and 131/84 are past the guidance values 130/85 and are ringed too)
    assert svg.count('data-flag="referral"') == 2 and svg.count('class="flag-ring"') == svg.count(
        "data-flag="
    )
    assert svg.count('class="reference-band"') == 2
    assert re.search(r'<td class="out-of-range" data-flag="referral">140 <strong class="flag">', bp)
    summary = bp.split('class="chart-summary">', 1)[1].split("</p>", 1)[0]
    assert "受診勧奨判定値（140 mmHg）以上" in summary and "受診勧奨判定値（90 mmHg）以上" in summary
    hdl = page.split('<figure class="trend" data-chart="hdl">', 1)[1].split("</figure>", 1)[0]
    assert hdl.count('data-flag="guidance"') == 2  # the point and its table cell; 48 is in range
    assert "保健指導判定値 40 mg/dl 未満" in hdl and "2回のうち1回が基準範囲の外でした" in hdl
    assert 'id="reference-source"' in page and "標準的な健診・保健指導プログラム（令和6年度版）" in page


def test_the_medicines_page_leads_with_what_is_taken_now_and_folds_the_history(
    signed_in, me, clinic, pharmacy
):
    # given one medicine taken for months, and one stopped a year ago
    today = timezone.localdate()
    for months_ago in range(6, 0, -1):
        MedicationRecord.objects.create(
            person=me.person,
            source="dispensing",
            dispensed_on=today - datetime.timedelta(days=28 * months_ago),
            dispensing_institution=pharmacy,
            prescribing_institution=clinic,
            drug_code="2149039F1",
            drug_name="アムロジピンOD錠5mg",
            ingredient_name="アムロジピン",
            quantity=Decimal("1"),
            unit="錠",
            usage="1日1回朝食後",
            days=28,
        )
    MedicationRecord.objects.create(
        person=me.person,
        source="claims",
        dispensed_on=today - datetime.timedelta(days=400),
        dispensing_institution=pharmacy,
        prescribing_institution=clinic,
        drug_code="6132016C1",
        drug_name="セフカペンピボキシル錠",
        quantity=Decimal("3"),
        unit="錠",
        usage="1日3回毎食後",
        days=5,
    )

    # when the patient opens their medicines
    page = signed_in.get("/portal/medication/").content.decode()

    # then the current medicines come first (amount, since when, from where); the old one is not among them
    current = page.split('id="current-medicines"', 1)[1].split("</section>", 1)[0]
    assert "アムロジピンOD錠5mg" in current and "セフカペンピボキシル錠" not in current
    first = today - datetime.timedelta(days=28 * 6)
    assert f"{first.year}年{first.month}月{first.day}日 から（記録上 6 回調剤）" in current
    assert "用量" in current and "28日分" in current and clinic.name in current and pharmacy.name in current
    assert page.index('id="current-medicines"') < page.index('id="medication-history"')
    # and the history is folded by month (nothing open until asked), each month saying how many records
    history = page.split('id="medication-history"', 1)[1]
    assert history.count('<details class="month"') >= 6 and '<details class="month" data-month' in history
    assert " open>" not in history.split("</form>", 1)[1]
    # a search opens the months it found
    found = (
        signed_in.get("/portal/medication/", {"q": "セフカペン"})
        .content.decode()
        .split('id="medication-history"', 1)[1]
    )
    assert found.count("<details") == 1 and " open>" in found


def test_expenses_name_every_column_on_a_phone_and_refuse_an_unknown_year_with_its_code(signed_in):
    page = signed_in.get("/portal/expenses/").content.decode()
    assert 'class="data expenses stack"' in page
    # every cell but the month and the institution's name carries its column's name (shown on a phone)
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert (
        body.count("<tr>")
        == body.count('class="num paid" data-label=')
        == body.count('class="num" data-label=') / 2
    )
    assert 'id="expense-totals"' in page

    response = signed_in.get("/portal/expenses/", {"year": "1999"})
    assert 'data-code="portal_filter_year_unknown"' in response.content.decode()


def test_access_history_filters_refuse_a_bad_or_reversed_range_with_their_codes(signed_in):
    page = signed_in.get("/portal/access/", {"from": "2026-02-30"}).content.decode()
    assert 'data-code="date_invalid"' in page
    page = signed_in.get("/portal/access/", {"from": "2026-05-01", "to": "2026-04-01"}).content.decode()
    assert 'data-code="portal_filter_range_reversed"' in page


def test_registration_checks_the_insurance_details_by_the_registry_rule_and_keeps_its_codes(client):
    response = client.post(
        "/portal/register/",
        {"insurer_number": "0113001", "symbol": "", "number": "", "branch": "00", "birth_date": "1950-13-01"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="number-error" data-code="field_required"' in page and "「番号」は必須です" in page
    assert 'id="insurer_number-error" data-code="insurer_number_invalid"' in page
    assert 'id="birth_date-error" data-code="date_invalid"' in page
    assert 'aria-invalid="true" aria-describedby="number-error"' in page
