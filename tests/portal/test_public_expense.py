"""The patient's own 公費 certificates on the insurance page: programme (Japanese or English), numbers,
validity, ceiling and where each can be used; logged with the qualification, never another person's."""

import datetime

import pytest
from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import PublicExpenseCertificate

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def text(response):
    assert response.status_code == 200
    return response.content.decode()


def main(body):
    return body.split("<main", 1)[-1]


def section(body, programme):
    """The record of one programme on the page."""
    return body.split(f'data-programme="{programme}"', 1)[1].split("</section>", 1)[0]


@pytest.fixture
def certificates(me, other, clinic):
    """Mine: 難病 in force (ceiling, designated at the clinic and at an institution the registry does not
    know), 医療扶助 in force (no 受給者番号, no ceiling, any institution), 精神通院 ended, 小児慢性 from
    next week. The other person's 育成医療 must never show."""
    today = timezone.localdate()
    make = PublicExpenseCertificate.objects.create
    make(
        person=me.person,
        programme="54",
        payer_number=with_check_digit("5413001"),
        recipient_number=with_check_digit("123456"),
        valid_from=today - 100 * DAY,
        valid_until=today + 265 * DAY,
        monthly_self_pay_limit=10000,
        designated_institutions=f"{clinic.code} 0110113719",
    )
    make(
        person=me.person,
        programme="12",
        payer_number=with_check_digit("1213001"),
        valid_from=today - 10 * DAY,
    )
    make(
        person=me.person,
        programme="21",
        payer_number=with_check_digit("2113001"),
        recipient_number=with_check_digit("654321"),
        valid_from=today - 400 * DAY,
        valid_until=today - 35 * DAY,
        monthly_self_pay_limit=2500,
    )
    make(
        person=me.person,
        programme="52",
        payer_number=with_check_digit("5213001"),
        recipient_number=with_check_digit("111111"),
        valid_from=today + 7 * DAY,
        valid_until=today + 372 * DAY,
        monthly_self_pay_limit=0,
    )
    make(
        person=other.person,
        programme="16",
        payer_number=with_check_digit("1613001"),
        recipient_number=with_check_digit("999999"),
        valid_from=today - DAY,
    )
    return today


def test_the_insurance_page_lists_my_certificates_with_their_numbers_validity_and_ceiling(
    signed_in, me, clinic, certificates
):
    # when the patient opens their insurance page
    body = main(text(signed_in.get("/portal/qualifications/")))

    # then each of their certificates is there, newest first, marked by whether it is in force today
    records = [p.split('"', 1)[0] for p in body.split('data-programme="')[1:]]
    assert records == ["52", "12", "54", "21"]
    for programme, state in (("52", "upcoming"), ("12", "current"), ("54", "current"), ("21", "past")):
        assert f'class="record public-expense {state}" data-programme="{programme}"' in body
    nanbyou = section(body, "54")
    assert "難病 特定医療費" in nanbyou and "現在" in nanbyou
    assert with_check_digit("5413001") in nanbyou and with_check_digit("123456") in nanbyou
    assert "10,000 円" in nanbyou
    assert f'みどり訪問クリニック</span> <span class="code">{clinic.code}</span>' in nanbyou
    assert '<span class="code">0110113719</span>' in nanbyou  # not in the registry: its code alone
    welfare = section(body, "12")
    assert "生活保護 医療扶助" in welfare and '受給者番号</dt><dd class="code">なし' in welfare
    assert "自己負担上限月額" not in welfare and "指定なし" in welfare
    assert "開始前" in section(body, "52") and "0 円" in section(body, "52")
    assert "過去" in section(body, "21")
    # and nothing of the other person's
    assert 'data-programme="16"' not in body and with_check_digit("999999") not in body


def test_certificates_are_logged_with_the_qualification_as_one_self_read(signed_in, me, certificates):
    # when the page is opened
    text(signed_in.get("/portal/qualifications/"))

    # then one self-read row says what the page showed (公費 travels with qualification)
    [event] = AccessEvent.objects.filter(person=me.person, detail__page="qualifications")
    assert event.basis == "self" and event.items == ["qualification", "limit_certificate"]


def test_in_english_the_programmes_read_in_english_with_the_japanese_term(signed_in, me, certificates):
    # given the English page
    signed_in.cookies["django_language"] = "en"

    # when the patient opens it
    body = main(text(signed_in.get("/portal/qualifications/", HTTP_ACCEPT_LANGUAGE="en")))

    # then the programmes and labels are English, with the short Japanese term beside each programme
    assert "Designated intractable diseases (難病)" in section(body, "54")
    assert "Medical assistance under public assistance (生活保護)" in section(body, "12")
    assert "Medical care for independence: outpatient psychiatry (精神通院)" in section(body, "21")
    assert "Recipient number" in body and "Monthly self-pay limit" in body and "Not yet valid" in body
    assert "Any institution" in section(body, "12")
    for term in ("難病 特定医療費", "生活保護 医療扶助", "受給者番号</dt>", "指定なし", "（"):
        assert term not in body, term


def test_without_certificates_the_page_has_no_public_expense_section(signed_in, me):
    body = main(text(signed_in.get("/portal/qualifications/")))

    assert 'id="public-expense"' not in body
