"""The patient page as staff read it: the consent's last day (not the exclusive end), the same
five-year limit on an end date as the consent pages, eligibility in words with the codes kept small,
every consented item (operations too), and a replaced consent that says so."""

import datetime
import re

from homeconsent.audit.models import AccessEvent
from homeconsent.consent import rules
from homeconsent.consent.models import Consent
from tests.consent.conftest import BIRTH_DATE


def _ja(day: datetime.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def test_the_end_of_a_consent_is_shown_as_its_last_day(signed_in, patient, institution, register):
    # given a home-visit consent that holds through a chosen day
    last = rules.today() + datetime.timedelta(days=60)
    consent = register(patient, institution, available_until=last)

    # when staff open the patient
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()

    # then the chosen day is shown as the last day, not the midnight after it
    until = re.search(r'<p id="consent-until">(.*?)</p>', page).group(1)
    assert until == f"{_ja(last)}まで"
    assert _ja(last + datetime.timedelta(days=1)) not in page and "終了します" not in page


def test_staff_cannot_set_an_end_past_the_five_year_limit_of_the_consent_pages(
    signed_in, patient, institution, register
):
    # given an open-ended home-visit consent
    consent = register(patient, institution)
    latest = rules.latest_end_date()
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()
    assert f'max="{latest.isoformat()}"' in page

    # when staff set an end one day past five years ahead
    response = signed_in.post(
        f"/console/patients/{consent.pk}/end/", {"until": (latest + datetime.timedelta(days=1)).isoformat()}
    )

    # then it is refused with its code, naming the latest day allowed, and nothing changes
    page = signed_in.get(response["Location"]).content.decode()
    assert 'data-code="available_until_too_far"' in page and _ja(latest) in page
    assert "available_until_too_far" in re.search(r'id="end-refused".*?</p>', page, re.S).group(0)
    consent.refresh_from_db()
    assert consent.available_until is None
    assert not AccessEvent.objects.filter(detail__action="consent_end_set").exists()

    # and the latest day itself is accepted
    signed_in.post(f"/console/patients/{consent.pk}/end/", {"until": latest.isoformat()})
    consent.refresh_from_db()
    assert (consent.available_until - datetime.timedelta(seconds=1)).astimezone(rules.TOKYO).date() == latest


def test_eligibility_is_shown_in_words_with_the_codes_kept_small(signed_in, patient, institution, register):
    # given a consented patient insured as themselves with a 20 percent cost share
    consent = register(patient, institution)

    # when staff open the patient
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()

    # then dates are localized and codes carry their meaning, the code kept in small text
    facts = re.search(r'<dl class="facts" id="eligibility".*?</dl>', page, re.S).group(0)
    assert re.search(
        r'id="validity">有効（' + _ja(rules.today()) + r'時点） <small class="code">1</small>', facts
    )
    assert f'id="birthdate">{_ja(BIRTH_DATE)}<' in facts
    assert 'id="ratio">2割 <small class="code">020</small>' in facts
    assert 'id="personal-family">本人 <small class="code">1</small>' in facts
    assert f'id="qualified">{_ja(datetime.date(2020, 4, 1))}<' in facts
    assert not re.search(r">\d{8}<", facts)  # no raw YYYYMMDD left
    # and 資格情報 names the section once, not the section and a field
    assert page.count(">資格情報<") == 1


def test_consented_operations_have_their_section(signed_in, patient, institution, register):
    consent = register(patient, institution, items=("medication", "operation"))

    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()

    section = re.search(r'<section id="operations">.*?</section>', page, re.S).group(0)
    assert "手術情報" in section and "記録はありません" in section
    row = AccessEvent.objects.order_by("-id").first()
    assert "operation" in row.items


def test_a_replaced_consent_says_so_and_leads_to_the_newer_one(signed_in, patient, institution, register):
    # given a consent the patient replaced by registering again
    old = register(patient, institution)
    new = register(patient, institution, items=("medication", "treatment"))
    assert Consent.objects.get(pk=old.pk).superseded_by_id == new.pk

    # when staff open the old one (from the board, say)
    response = signed_in.get(f"/console/patients/{old.pk}/")

    # then the page says it was replaced, with its code, and opens the newer one; no patient data
    page = response.content.decode()
    assert response.status_code == 404
    assert 'data-code="console_consent_superseded"' in page and "この同意は置き換えられました" in page
    assert f'href="/console/patients/{new.pk}/"' in page
    assert patient.person.name not in page


def test_public_expense_certificates_in_force_are_shown_with_their_numbers(
    signed_in, patient, institution, register
):
    # given a consented patient holding a 難病 certificate in force and one that has ended
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import PublicExpenseCertificate

    consent = register(patient, institution)
    today = rules.today()
    PublicExpenseCertificate.objects.create(
        person=patient.person,
        programme="54",
        payer_number=with_check_digit("5413001"),
        recipient_number=with_check_digit("123456"),
        valid_from=today - datetime.timedelta(days=30),
        valid_until=today + datetime.timedelta(days=300),
        monthly_self_pay_limit=10000,
    )
    PublicExpenseCertificate.objects.create(
        person=patient.person,
        programme="21",
        payer_number=with_check_digit("2113001"),
        recipient_number=with_check_digit("654321"),
        valid_from=today - datetime.timedelta(days=400),
        valid_until=today - datetime.timedelta(days=1),
    )

    # when staff open the patient
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()

    # then the one in force is listed in words with its numbers, ceiling and last day; not the ended one
    facts = re.search(r'<dl class="facts" id="eligibility".*?</dl>', page, re.S).group(0)
    shown = re.findall(r'<dd class="public-expense">(.*?)</dd>', facts, re.S)
    assert len(shown) == 1
    assert "難病 特定医療費" in shown[0] and "54130018" in shown[0] and "1234566" in shown[0]
    assert "自己負担上限月額 10000円" in shown[0]
    assert _ja(today + datetime.timedelta(days=300)) + "まで" in shown[0]
    assert "精神通院" not in facts
    # and in English the programme reads in English, with the short Japanese term
    signed_in.cookies["django_language"] = "en"
    english = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()
    [shown_en] = re.findall(r'<dd class="public-expense">(.*?)</dd>', english, re.S)
    assert "Designated intractable diseases (難病)" in shown_en and "難病 特定医療費" not in shown_en
