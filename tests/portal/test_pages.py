"""Each page shows the signed-in person's own data, never another person's, and logs the look."""

import csv
import datetime
import io
import re

from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.registry.models import ExpenseNotice

from .conftest import answer_card, give_consent


def text(response):
    assert response.status_code == 200
    return response.content.decode()


def test_qualifications_show_current_and_past_ratio_and_the_limit_certificate(signed_in, me):
    body = text(signed_in.get("/portal/qualifications/"))

    assert "全国健康保険協会東京支部" in body and "杉並区国民健康保険" in body
    assert body.count('class="record current"') == 1 and body.count('class="record past"') == 1
    assert "2割" in body and "3割" in body and "他保険取得" in body
    assert "一般Ⅰ" in body and "B05" in body  # own 限度額 without any consent
    assert 'class="summary elderly"' in body and "2020年5月1日～2027年7月31日" in body
    event = AccessEvent.objects.filter(person=me.person, detail__page="qualifications").get()
    assert event.basis == "self" and event.items == ["qualification", "limit_certificate"]


def test_medication_by_month_from_all_three_sources_labelled(signed_in, me, other):
    body = text(signed_in.get("/portal/medication/"))

    for name in ["アムロジピン錠5mg", "メトホルミン錠250mg", "ロスバスタチン錠2.5mg"]:
        assert name in body
    for source in ['data-source="claims"', 'data-source="e_prescription"', 'data-source="dispensing"']:
        assert source in body
    assert body.count('class="month"') == 2
    assert "★他人" not in body


def test_medication_search_by_drug_and_by_institution_and_source(signed_in, me):
    by_drug = text(signed_in.get("/portal/medication/", {"q": "メトホルミン"}))
    by_place = text(signed_in.get("/portal/medication/", {"q": "さくら薬局"}))
    by_source = text(signed_in.get("/portal/medication/", {"source": "claims"}))

    assert "メトホルミン" in by_drug and "アムロジピン" not in by_drug
    assert by_place.count('class="record medication"') == 3
    assert "アムロジピン" in by_source and "メトホルミン" not in by_source
    assert AccessEvent.objects.filter(person=me.person, detail__query="メトホルミン").exists()


def test_checkups_draw_trend_charts_with_points_a_table_and_a_summary(signed_in, me, other):
    body = text(signed_in.get("/portal/checkups/"))

    assert body.count("<svg") == 4  # BMI, blood pressure, HbA1c, LDL (urine glucose is not numeric)
    assert 'data-chart="hba1c"' in body
    for value in ["5.6", "5.9", "6.1"]:
        assert f'data-value="{value}"' in body
    assert body.count('class="chart-point"') == 3 + 6 + 3 + 3
    assert '<th scope="col">' in body and '<caption id="chart-1-numbers">' in body
    assert "aria-labelledby" in body and 'role="img"' in body
    assert "0.5 上昇" in body  # HbA1c 5.6 → 6.1, in the Japanese summary
    assert "★他人" not in body
    assert "<script" not in body.split("</main>")[0]


def test_treatment_by_month(signed_in, me, other):
    body = text(signed_in.get("/portal/treatment/"))

    assert "在宅患者訪問診療料" in body and "★他人" not in body


def test_expenses_page_totals_the_year_and_csv_parses_and_sums(signed_in, me, other):
    year = ExpenseNotice.objects.filter(person=me.person).latest("month").month.year
    page = text(signed_in.get("/portal/expenses/", {"year": year}))
    response = signed_in.get("/portal/expenses.csv", {"year": year})

    assert "31,120" in page and "9,336" in page
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens UTF-8
    assert (
        response["Content-Type"] == "text/csv; charset=utf-8"
        and "attachment" in response["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header == [
        "診療年月",
        "医療機関等名称",
        "診療区分",
        "日数",
        "医療費の総額（円）",
        "窓口負担相当額（円）",
    ]
    assert len(body) == 3 and all(row[0].startswith(str(year)) for row in body)
    assert sum(int(row[4]) for row in body) == 15600 + 8420 + 7100
    assert sum(int(row[5]) for row in body) == 4680 + 2526 + 2130
    assert not any("★他人" in cell for row in body for cell in row)
    assert AccessEvent.objects.filter(person=me.person, detail__page="expenses_csv").exists()


def test_another_persons_card_sees_only_their_own(client, me, other):
    answer_card(client, "signin", other.key, other.certificate)

    body = text(client.get("/portal/medication/"))

    assert "★他人" in body and "アムロジピン錠5mg<" not in body
    assert not AccessEvent.objects.filter(person=me.person, basis="self").exists()


def test_english_qualifications_page_shows_english_labels_not_the_registry_terms(signed_in, me):
    signed_in.cookies["django_language"] = "en"
    body = text(signed_in.get("/portal/qualifications/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "20 percent" in body and "Joined another insurance" in body and "General I" in body
    for term in ("本人", "2割", "他保険取得", "一般Ⅰ", "（"):
        assert term not in body.split("<main", 1)[-1], term


def test_blood_pressure_reads_upper_and_lower_not_the_registry_names(signed_in, me):
    body = text(signed_in.get("/portal/checkups/"))
    assert "上の血圧（収縮期）" in body and "収縮期血圧（その他）" not in body
    signed_in.cookies["django_language"] = "en"
    english = text(signed_in.get("/portal/checkups/"))
    assert "Blood pressure, upper (systolic)" in english and "Blood pressure, lower (diastolic)" in english


def test_chart_tick_labels_are_large_enough_on_a_phone():
    from decimal import Decimal

    from portal.charts import WIDTH, Chart, Series, render_svg

    chart = Chart("bmi", "BMI", "kg/m2", [Series("BMI", [(datetime.date(2024, 5, 1), Decimal("22"))])])
    svg = render_svg(chart, title_id="t", desc_id="d", description="")
    sizes = {int(size) for size in re.findall(r'class="tick" font-size="(\d+)"', svg)}
    assert sizes and min(sizes) * 360 / WIDTH >= 14  # a 390 px phone draws the chart about 360 px wide


def test_dates_and_times_use_one_localized_format(signed_in, me, clinic):
    consent = give_consent(me, clinic)
    ja = text(signed_in.get("/portal/consents/"))
    local = timezone.localtime(consent.given_at)
    assert f"{local.year}年{local.month}月{local.day}日 {local.hour}時{local:%M}分" in ja
    signed_in.cookies["django_language"] = "en"
    en = text(signed_in.get("/portal/consents/"))
    assert f"{local.day} {local:%b %Y, %H:%M}" in en


def test_an_ended_consent_dates_its_end_under_ended_on(signed_in, me, clinic):
    consent = give_consent(me, clinic)
    consent.status, consent.ended_at, consent.ended_by = "cancelled", timezone.now(), "patient"
    consent.save()
    body = text(signed_in.get("/portal/consents/"))
    assert "<dt>終了日時</dt>" in body
