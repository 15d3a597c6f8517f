"""The console's 救急時閲覧 and 災害時閲覧 pages, the admin's permission page and report."""

import re

import pytest
from django.test import Client

from homeconsent.accounts.models import StaffRole
from homeconsent.audit.models import AccessEvent
from tests.console.conftest import sign_in

from .conftest import search_data

pytestmark = pytest.mark.django_db


def signed_in(staff):
    return sign_in(Client(), staff)


def attributes_form(patient, reason="unconscious", **extra):
    return {"method": "attributes", "reason": reason, **search_data(patient, "attributes"), **extra}


def test_a_permitted_hospital_doctor_finds_and_views_a_patient(staff_of, hospital, resident):
    patient = resident()
    client = signed_in(staff_of(hospital, True))
    # given the menu offers emergency viewing
    board = client.get("/console/").content.decode()
    assert 'href="/console/emergency/"' in board
    page = client.get("/console/emergency/")
    assert page.status_code == 200 and "ws://127.0.0.1" in page["Content-Security-Policy"]
    # when the doctor searches by the four attributes
    response = client.post("/console/emergency/", attributes_form(patient))
    assert response.status_code == 302
    view = client.get(response["Location"])
    body = view.content.decode()
    # then the emergency summary shows the patient, the recent medicine and the operation
    assert view.status_code == 200 and patient.person.name in body
    assert "アムロジピン錠5mg" in body and "ワルファリンK錠1mg" not in body and "虫垂切除術" in body
    assert patient.person.name not in re.search(r"<title>(.*?)</title>", body, re.S).group(1)
    assert re.search(
        r"\d{4}年\d{1,2}月\d{1,2}日 \d{1,2}:\d\d JST まで閲覧できます", body
    )  # the encounter's end
    # and the detail goes back further
    detail = client.get(response["Location"] + "?item=medication").content.decode()
    assert "ワルファリンK錠1mg" in detail
    rows = AccessEvent.objects.filter(person=patient.person, basis="emergency", outcome="ok").order_by("id")
    assert [r.detail["action"] for r in rows] == ["emergency_search", "emergency_view", "emergency_view"]
    assert rows[1].items == ["qualification", "medication", "treatment", "checkup"] and rows[2].items == [
        "medication"
    ]


@pytest.mark.parametrize(
    "kind, permitted", [("hospital", False), ("clinic", True), ("pharmacy", True), ("nursing", False)]
)
def test_emergency_viewing_is_not_there_for_others(kind, permitted, staff_of, institutions, resident):
    patient = resident()
    client = signed_in(staff_of(institutions[kind], permitted))
    unknown = client.get("/console/no-such-page/")
    assert 'href="/console/emergency/"' not in client.get("/console/").content.decode()
    page = client.get("/console/emergency/")
    assert page.status_code == unknown.status_code == 404
    assert client.post("/console/emergency/", attributes_form(patient)).status_code == 404
    assert not AccessEvent.objects.filter(
        person=patient.person, outcome="ok", actor_type="institution_staff"
    ).exists()
    # the attempt is recorded, naming nobody
    assert (
        AccessEvent.objects.filter(detail__action="emergency_search", outcome="refused", person=None).count()
        == 1
    )


def test_refusals_are_coded_and_nothing_is_read(staff_of, hospital, resident):
    patient = resident()
    client = signed_in(staff_of(hospital, True))
    too_little = client.post(
        "/console/emergency/", {"method": "attributes", "reason": "shock", "name": "試験"}
    )
    assert (
        too_little.status_code == 400
        and 'data-code="special_access_search_too_little"' in too_little.content.decode()
    )
    no_reason = client.post("/console/emergency/", attributes_form(patient, reason=""))
    assert 'data-code="special_access_reason_required"' in no_reason.content.decode()
    nobody = client.post("/console/emergency/", attributes_form(patient, name="別人 太郎"))
    assert 'data-code="special_access_no_match"' in nobody.content.decode()
    ended = client.get("/console/emergency/not-a-token/")
    assert ended.status_code == 404 and 'data-code="special_access_encounter_ended"' in ended.content.decode()
    assert not AccessEvent.objects.filter(person=patient.person, actor_type="institution_staff").exists()


def test_the_card_method_reads_the_certificate_without_pin(staff_of, hospital, resident):
    import base64

    patient = resident()
    client = signed_in(staff_of(hospital, True))
    response = client.post(
        "/console/emergency/",
        {
            "method": "card",
            "reason": "cardiac_arrest",
            "certificate": base64.b64encode(patient.card.auth_cert_der).decode(),
        },
    )
    assert response.status_code == 302
    assert patient.person.name in client.get(response["Location"]).content.decode()
    broken = client.post("/console/emergency/", {"method": "card", "reason": "shock", "certificate": "!!"})
    assert 'data-code="malformed_certificate"' in broken.content.decode() or broken.status_code == 400


def test_a_pharmacy_in_a_disaster_scope_sees_medicines_and_checkups(staff_of, institutions, scopes, resident):
    patient = resident()
    client = signed_in(staff_of(institutions["pharmacy"]))
    page = client.get("/console/disaster/").content.decode()
    assert "令和8年能登半島地震" in page and "早期終了" not in page
    keys = search_data(patient, "insurer_keys")
    form = {"method": "insurer_keys", "reason": "oral", **keys, "keys_birth_date": keys["birth_date"]}
    response = client.post("/console/disaster/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    body = client.get(response["Location"]).content.decode()
    assert "アムロジピン錠5mg" in body and "HbA1c" in body and "虫垂切除術" not in body
    assert client.get(response["Location"].replace("disaster", "emergency")).status_code == 404
    row = AccessEvent.objects.filter(person=patient.person, detail__action="disaster_view").get()
    assert (
        row.basis == "disaster"
        and row.detail["scope"] == scopes["inside"].pk
        and row.detail["reason"] == "oral"
    )


def test_the_admin_grants_and_revokes_and_sees_the_report(staff_of, hospital, resident):
    patient = resident()
    nurse = staff_of(hospital)  # makes the admin too
    admin = hospital.console_staff.get(role=StaffRole.INSTITUTION_ADMIN)
    from tests.console.conftest import Staff

    admin_client = signed_in(Staff(admin, admin.user.totpdevice_set.get()))
    page = admin_client.get("/console/emergency/staff/").content.decode()
    assert f'data-user="{nurse.username}"' in page
    assert (
        admin_client.post(
            "/console/emergency/staff/", {"membership": nurse.membership.pk, "action": "grant"}
        ).status_code
        == 302
    )
    nurse_client = signed_in(nurse)
    found = nurse_client.post(
        "/console/emergency/", attributes_form(patient, reason="other", reason_text="交通事故")
    )
    nurse_client.get(found["Location"])
    report = admin_client.get("/console/emergency/report/").content.decode()
    assert "交通事故" in report and nurse.username in report and patient.person.name not in report
    assert re.search(r"<td>\d{4}年\d{1,2}月\d{1,2}日 \d{1,2}:\d\d JST</td>", report)
    assert (
        admin_client.post(
            "/console/emergency/staff/", {"membership": nurse.membership.pk, "action": "revoke"}
        ).status_code
        == 302
    )
    assert nurse_client.get(found["Location"]).status_code == 404
    # staff cannot open the admin pages
    assert nurse_client.get("/console/emergency/staff/").status_code == 403


def test_pages_in_english(staff_of, hospital, resident):
    client = signed_in(staff_of(hospital, True))
    client.cookies["django_language"] = "en"
    body = client.get("/console/emergency/").content.decode()
    assert "Emergency viewing" in body and "Unconscious" in body
    client.cookies["django_language"] = "ja"
    body = client.get("/console/emergency/").content.decode()
    assert "救急時" in body and "意識障害" in body
