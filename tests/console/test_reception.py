"""What reception staff meet (issue 12, items 2, 8, 9): the consent a link names is the one that opens,
a patient's consents are listed apart, patients are found by name or kana (each result page logged),
a cancelled consent says who cancelled it, and the console speaks one language with localised dates."""

import datetime
import re

from django.test import Client

from homeconsent.audit.models import AccessEvent
from homeconsent.consent.services import do_cancel_consent

from .conftest import PASSWORD, sign_in


def test_opening_a_telehealth_consent_shows_that_consent_not_the_patients_home_visit_one(
    signed_in, patient, institution, register
):
    # given a patient with a telehealth consent (#tele) and, registered after it, a home-visit one
    tele = register(
        patient,
        institution,
        kind="telehealth",
        items=("medication",),
        visit_date=datetime.date.today() + datetime.timedelta(days=3),
    )
    home = register(patient, institution, kind="home_visit", items=("treatment",))

    # when staff open the telehealth consent
    page = signed_in.get(f"/console/patients/{tele.pk}/").content.decode()

    # then the page shows that consent, its items and visit date, and logs the read under it
    shown = re.search(r'<p id="shown-consent" data-consent="(\d+)" data-kind="(\w+)"', page)
    assert shown.groups() == (str(tele.pk), "telehealth")
    assert 'id="medication"' in page and 'id="treatment"' not in page
    row = AccessEvent.objects.filter(detail__read="patient").latest("pk")
    assert row.consent_id == str(tele.pk) and sorted(row.items) == ["medication", "qualification"]
    # and both consents are listed apart, the shown one marked, the other one opening itself
    listed = re.findall(r'<li class="consent-entry" data-consent="(\d+)"( aria-current="page")?', page)
    assert sorted(listed) == sorted([(str(tele.pk), ' aria-current="page"'), (str(home.pk), "")])
    assert f'href="/console/patients/{home.pk}/"' in page

    # and opening the home-visit consent shows that one
    page = signed_in.get(f"/console/patients/{home.pk}/").content.decode()
    assert f'<p id="shown-consent" data-consent="{home.pk}" data-kind="home_visit"' in page
    assert 'id="treatment"' in page and 'id="medication"' not in page


def test_patients_are_found_by_name_or_kana_and_each_result_page_is_logged(
    signed_in, admin, make_patient, institution, register
):
    # given two consented patients and one whose consent was cancelled
    found = make_patient(card=0)
    other = make_patient(card=1)
    gone = make_patient(card=2)
    register(found, institution)
    register(other, institution)
    do_cancel_consent(register(gone, institution), by="patient", actor_id="card:x")
    kana = found.person.name_kana  # シケン ハナコN
    before = AccessEvent.objects.count()

    # when staff search by the reading typed in hiragana, without the space
    hiragana = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in kana.replace(" ", ""))
    page = signed_in.get("/console/patients/", {"q": hiragana}).content.decode()

    # then only that patient is listed, and the result page is one read of that patient, by this staff member
    results = page.split('id="search-summary"', 1)[1].split("</p>", 1)[1]
    assert (
        found.person.name in results and other.person.name not in results and gone.person.name not in results
    )
    rows = list(AccessEvent.objects.filter(pk__gt=0).order_by("pk"))[before:]
    assert [(r.person_id, r.detail["read"], r.actor_id, r.items) for r in rows] == [
        (found.person.pk, "patient_search", f"staff:{admin.username}", ["consent"])
    ]

    # and by the name as written (kanji, with its space), the cancelled patient is never found
    page = signed_in.get("/console/patients/", {"q": gone.person.name}).content.decode()
    assert (
        gone.person.name not in page.split('id="search-summary"', 1)[1].split("</p>", 1)[1]
        and 'id="no-patients"' in page
    )


def test_an_empty_or_overlong_search_is_refused_with_its_code(signed_in):
    response = signed_in.get("/console/patients/", {"q": "あ" * 51})
    assert response.status_code == 400
    assert 'data-code="console_search_query_invalid"' in response.content.decode()
    response = signed_in.get("/console/patients/", {"given_from": "2026-02-30"})
    assert response.status_code == 400 and 'data-code="date_invalid"' in response.content.decode()


def test_a_cancelled_consent_says_it_was_cancelled_and_by_whom(
    signed_in, admin, patient, make_patient, institution, register
):
    # given one consent cancelled by the patient and one by this institution's staff member
    by_patient = register(patient, institution)
    do_cancel_consent(by_patient, by="patient", actor_id="card:x")
    by_staff = register(make_patient(card=1), institution)
    do_cancel_consent(by_staff, by="institution", institution=institution, actor_id=f"staff:{admin.username}")

    # when staff open each
    first = signed_in.get(f"/console/patients/{by_patient.pk}/")
    second = signed_in.get(f"/console/patients/{by_staff.pk}/")

    # then each says it was cancelled, by whom, and what to do; still coded, and no name shown
    page = first.content.decode()
    assert first.status_code == 404 and 'data-code="console_patient_not_found"' in page
    assert 'id="consent-ending" data-why="cancelled" data-by="patient"' in page and "患者ご本人" in page
    assert "該当なし" not in page and patient.person.name not in page
    page = second.content.decode()
    assert 'data-by="institution"' in page and f"（{admin.username}）" in page


def test_a_wrong_password_never_mentions_a_confirmation_code(admin):
    client = Client()
    page = client.post("/console/signin/", {"username": admin.username, "password": "wrong"}).content.decode()
    assert 'data-code="console_signin_failed"' in page
    assert "確認コード" not in page.split('id="error"', 1)[1].split("</p>", 1)[0]

    client.post("/console/signin/", {"username": admin.username, "password": PASSWORD})
    page = client.post("/console/signin/code/", {"code": "000000"}).content.decode()
    assert 'data-code="console_signin_failed"' in page and "確認コード" in page.split('id="error"', 1)[1]


def test_the_english_console_translates_statuses_and_localises_dates(admin, patient, institution, register):
    # given a consent, and staff reading the console in English
    consent = register(patient, institution)
    client = sign_in(Client(), admin)
    client.post("/i18n/setlang/", {"language": "en", "next": "/console/"})

    # when they list patients and open one
    listing = client.get("/console/patients/").content.decode()
    page = client.get(f"/console/patients/{consent.pk}/").content.decode()

    # then the status is English and no table date is written the ISO way
    assert '<html lang="en"' in listing
    assert "In force" in listing and "有効" not in listing
    assert not re.search(r">[^<]*\d{4}-\d{2}-\d{2}[^<]*<", listing.split('id="patients"', 1)[1])
    assert not re.search(r"<td>\d{4}-\d{2}-\d{2}</td>", page)
