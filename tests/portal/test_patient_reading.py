"""What an elderly patient reads on the portal: end dates as the day they chose, who acted in the
access history (themself, not the clinic), consent steps as such, their own views out of the way,
a plain tamper-check message, replaced consents in the history, and one date format on every page."""

import datetime
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.utils import timezone, translation

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import record_access
from homeconsent.consent import services as consent_services
from homeconsent.consent.challenges import verify_card_authentication
from homeconsent.consent.models import ConsentStatus

from .conftest import answer_card, der, give_consent

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{4}-\d{2}\b|\b\d{4}/\d{2}\b")


def text(response):
    assert response.status_code == 200
    return response.content.decode()


def main(body):
    """The page's own content, without the layout (whose hidden inputs may carry ISO dates)."""
    return body.split("<main", 1)[1].split("</main>", 1)[0]


def in_english(client):
    client.cookies["django_language"] = "en"
    return client


def consent_with(who, institution, **terms):
    """A consent registered with the given terms (an end date, a visit date) by `who`'s card."""
    items = ["qualification", "medication"]
    challenge = consent_services.issue_consent_challenge(institution, items=items, **terms)
    signature = who.key.sign(challenge.message(), padding.PKCS1v15(), hashes.SHA256())
    verified = verify_card_authentication(challenge.nonce, der(who.certificate), signature, "consent")
    return consent_services.do_register_consent(verified, items=items, **terms)


def consent_card(body, consent):
    return body.split(f'data-consent="{consent.pk}"', 1)[1].split("</dl>", 1)[0]


# --- 1. end dates --------------------------------------------------------------------------------------
def test_a_chosen_end_date_reads_as_that_day_not_the_midnight_after(signed_in, me, clinic):
    # given a home-visit consent the patient chose to end on a day next year
    last = datetime.date(timezone.localdate().year + 1, 3, 31)
    consent = consent_with(me, clinic, kind="home_visit", available_until=last)

    # when they read their consents in Japanese and in English
    ja = consent_card(text(signed_in.get("/portal/consents/")), consent)
    en = consent_card(text(in_english(signed_in).get("/portal/consents/")), consent)

    # then the day they chose, as a date, inclusive
    assert f"{last.year}年{last.month}月{last.day}日まで" in ja
    assert "0時00分" not in ja
    assert f"Until {last.day} {last:%b %Y}" in en


def test_a_telehealth_consent_reads_until_its_visit_date(signed_in, me, clinic):
    visit = timezone.localdate() + datetime.timedelta(days=3)
    consent = consent_with(me, clinic, kind="telehealth", visit_date=visit)

    card = consent_card(text(signed_in.get("/portal/consents/")), consent)

    assert f"{visit.year}年{visit.month}月{visit.day}日まで" in card
    assert f"<dd>{visit.year}年{visit.month}月{visit.day}日</dd>" in card  # the visit date, same format


# --- 4. replaced consents ------------------------------------------------------------------------------
def test_a_replaced_consent_is_listed_among_the_ended_ones(signed_in, me, clinic):
    # given consent #1 replaced by a newer consent #2 with the same clinic
    first = give_consent(me, clinic)
    second = give_consent(me, clinic)
    first.refresh_from_db()
    assert first.status == ConsentStatus.SUPERSEDED

    # when the patient reads their consents
    body = text(signed_in.get("/portal/consents/"))
    ended = body.split("<h2>", 3)[2]

    # then #1 is in the history, marked as replaced; #2 is in force
    assert f'data-consent="{first.pk}"' in ended and "新しい同意に置き換え" in consent_card(body, first)
    assert f'data-consent="{second.pk}"' not in ended
    assert "Replaced by a newer consent" in text(in_english(signed_in).get("/portal/consents/"))


# --- 2. who acted, consent steps as such ----------------------------------------------------------------
def test_the_patients_own_cancellation_is_theirs_and_a_consent_step_not_a_read(signed_in, me, clinic):
    # given a consent the patient cancels on the portal with their card
    consent = give_consent(me, clinic)
    signed_in.get(f"/portal/consents/{consent.pk}/cancel/")
    answer_card(signed_in, "cancel", me.key, me.certificate)

    # when they open the access history
    body = text(signed_in.get("/portal/access/"))
    reads, steps = body.split('class="data access consent-events', 1)

    # then the cancellation is under the consent steps, done by "ご本人", about the clinic; not a provision
    cancelled = steps.split('data-action="consent_cancelled"', 1)[1].split("</tr>", 1)[0]
    assert 'class="who">ご本人<' in cancelled
    assert "同意の取消" in cancelled and clinic.name in cancelled
    assert "情報を見せた" not in cancelled and "ご本人の同意" not in cancelled
    assert 'data-action="consent_registered"' in steps and "同意の登録" in steps
    assert "consent_cancelled" not in reads and "同意の取消" not in reads


def test_the_csv_names_who_acted_and_the_consent_step(signed_in, me, clinic):
    consent = give_consent(me, clinic)
    signed_in.get(f"/portal/consents/{consent.pk}/cancel/")
    answer_card(signed_in, "cancel", me.key, me.certificate)

    lines = text(signed_in.get("/portal/access.csv")).splitlines()

    cancelled = next(line for line in lines if "同意の取消" in line)
    # every cell is quoted (homeconsent.spreadsheet)
    assert ',"ご本人",' in cancelled and ',"情報を見せた",' not in cancelled


def test_reads_name_the_institution_for_staff_and_its_system_for_the_client(signed_in, me, clinic):
    give_consent(me, clinic)
    record_access(
        actor_type="institution_staff",
        actor_id="staff-1",
        person=me.person,
        items=["medication"],
        basis="consent",
        institution_code=clinic.code,
    )
    record_access(
        actor_type="institution_client",
        actor_id="client-1",
        person=me.person,
        items=["checkup"],
        basis="consent",
        institution_code=clinic.code,
    )

    body = text(signed_in.get("/portal/access/"))

    staff = body.split('data-actor="institution_staff"', 1)[1].split("</tr>", 1)[0]
    client = body.split('data-actor="institution_client"', 1)[1].split("</tr>", 1)[0]
    assert f'class="who"><span lang="ja">{clinic.name}</span> <span class="code">{clinic.code}' in staff
    assert "情報を見せた" in staff
    assert f'<span lang="ja">{clinic.name}</span>のシステム' in client
    assert "staff-1" not in body and "client-1" not in body


def test_staff_bringing_the_end_forward_reads_as_a_consent_step_by_the_institution(signed_in, me, clinic):
    consent = consent_with(
        me, clinic, kind="home_visit", available_until=timezone.localdate() + datetime.timedelta(days=60)
    )
    record_access(
        actor_type="institution_staff",
        actor_id="staff-1",
        person=me.person,
        items=consent.items,
        basis="consent",
        institution_code=clinic.code,
        consent_id=consent.pk,
        detail={"action": "consent_end_set"},
    )

    body = text(signed_in.get("/portal/access/"))

    steps = body.split('class="data access consent-events', 1)[1]
    ended_early = steps.split('data-action="consent_end_set"', 1)[1].split("</tr>", 1)[0]
    assert (
        f'class="who"><span lang="ja">{clinic.name}</span> ' in ended_early
        and "同意の終了日の繰り上げ" in ended_early
    )


# --- 3. own views out of the way, plain check message -------------------------------------------------
def test_own_views_are_left_out_until_asked_for(signed_in, me, clinic):
    # given a short visit: many own page views and one read by the clinic
    for path in ["/portal/medication/", "/portal/checkups/", "/portal/treatment/", "/portal/consents/"]:
        signed_in.get(path)
    record_access(
        actor_type="institution_client",
        actor_id="c",
        person=me.person,
        items=["medication"],
        basis="consent",
        institution_code=clinic.code,
    )
    own = AccessEvent.objects.filter(person=me.person, basis="self").count()

    # when the patient opens the access history, then switches their own views on
    default = text(signed_in.get("/portal/access/"))
    with_own = text(signed_in.get("/portal/access/", {"own": "1"}))

    # then only others' accesses by default, with the number left out and a switch; all with it
    assert 'data-basis="self"' not in default and f'data-institution="{clinic.code}"' in default
    assert (
        f"ご自身の閲覧 {own} 件は表示していません" in default and 'id="own-toggle" href="?own=1"' in default
    )
    assert with_own.count('data-basis="self"') == own + 1  # the look just before, logged after its query
    assert 'name="own" value="1"' in with_own  # filtering keeps the choice


def test_filtering_on_own_views_shows_them(signed_in, me):
    body = text(signed_in.get("/portal/access/", {"basis": "self"}))
    assert 'data-basis="self"' in body


def test_the_check_reads_plainly_with_the_technical_detail_folded_away(signed_in, me):
    body = text(signed_in.get("/portal/access/"))
    section = body.split('id="log-verification"', 1)[1].split("</section>", 1)[0]
    plain, technical = section.split("<details", 1)

    assert "この記録は改ざんされていないことを確認しました" in plain
    assert not any(word in plain for word in ("系列", "ハッシュ", "チェックポイント"))
    assert "系列" in technical


def test_a_failed_check_says_what_to_do_with_a_code(signed_in, me):
    from django.db import connection

    if connection.vendor == "postgresql":
        pytest.skip("the append-only trigger refuses the UPDATE on PostgreSQL")
    event = AccessEvent.objects.filter(person=me.person).first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_accessevent SET items = %s WHERE id = %s", ['["nothing"]', event.pk])

    body = text(signed_in.get("/portal/access/"))
    plain = body.split('id="log-verification"', 1)[1].split("<details", 1)[0]

    assert 'data-code="portal_access_log_not_verified"' in plain
    assert (
        "data-error-code>portal_access_log_not_verified</span>" in plain and "問い合わせ窓口にご連絡" in plain
    )
    assert "altered" not in plain


# --- 5. one date format ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/portal/qualifications/",
        "/portal/medication/",
        "/portal/checkups/",
        "/portal/treatment/",
        "/portal/expenses/",
        "/portal/consents/",
        "/portal/access/",
    ],
)
def test_no_page_shows_iso_dates(signed_in, me, clinic, path):
    give_consent(me, clinic)

    ja = main(text(signed_in.get(path)))
    en = main(text(in_english(signed_in).get(path)))

    # ISO dates only where a machine reads them (attributes, date inputs), never as text
    for body in (ja, en):
        shown = re.sub(r"<[^>]*>", " ", body)
        assert not ISO_DATE.search(shown), ISO_DATE.search(shown).group()


def test_ranges_months_and_chart_text_use_the_language_format(signed_in, me):
    today = timezone.localdate()
    quals = text(signed_in.get("/portal/qualifications/"))
    medication = text(signed_in.get("/portal/medication/"))
    checkups = text(signed_in.get("/portal/checkups/"))
    english = text(in_english(signed_in).get("/portal/qualifications/"))

    assert f"{today.year}年1月1日～{today.year}年12月31日" in quals  # the limit certificate's range
    assert f'<span class="month-name">{today.year}年{today.month}月</span>' in medication  # a folded month
    assert f"1 Jan {today.year} – 31 Dec {today.year}" in english
    chart = checkups.split('data-chart="hba1c"', 2)[2].split("</svg>", 1)[0]
    assert "<tspan" in chart and f">{today.year}年</tspan>" in chart
    summary = (
        checkups.split('data-chart="hba1c"', 1)[1].split('class="chart-summary">', 1)[1].split("</p>", 1)[0]
    )
    assert "年" in summary and not ISO_DATE.search(summary)


def test_chart_labels_follow_the_language():
    from decimal import Decimal

    from portal.charts import Chart, Series, month_label, render_svg

    day = datetime.date(2024, 5, 20)
    chart = Chart("bmi", "BMI", "kg/m2", [Series("BMI", [(day, Decimal("22"))])])
    with translation.override("ja"):
        ja_label, ja_svg = month_label(day), render_svg(chart, title_id="t", desc_id="d", description="")
    with translation.override("en"):
        en_label = month_label(day)

    assert ja_label == ["2024年", "5月"] and en_label == ["May", "2024"]
    assert "BMI 2024年5月20日: 22 kg/m2" in ja_svg and "2024-05-20:" not in ja_svg
