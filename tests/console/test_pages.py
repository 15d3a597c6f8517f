"""Console pages: the entry card and its rotation, consented patients with the access log and the
per-view consent check, 再照会, API clients, the catch-up endpoint; isolation, CSRF and CSP."""

import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.utils import timezone

from clinicapi.models import ApiClient
from homeconsent.accounts.models import StaffRole
from homeconsent.audit.models import AccessEvent
from homeconsent.consent.entry import entry_for
from homeconsent.consent.models import InstitutionEntry
from homeconsent.consent.rules import TOKYO
from homeconsent.consent.services import do_cancel_consent
from homeconsent.registry.models import MedicationRecord, TreatmentRecord

from .conftest import sign_in


def test_pages_carry_a_csp_without_inline_script_and_are_japanese_by_default(signed_in):
    response = signed_in.get("/console/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe-inline" not in csp
    page = response.content.decode()
    assert '<html lang="ja">' in page and "ライブボード" in page
    assert "<script>" not in page and " style=" not in page


def test_the_entry_card_shows_the_url_and_its_qr_code(signed_in, institution):
    entry = entry_for(institution)
    page = signed_in.get("/console/entry/").content.decode()
    assert f"/consent/e/{entry.token}/" in page and "<svg" in page and institution.code in page


def test_rotating_the_entry_token_needs_an_admin_and_a_confirmation(signed_in, make_staff, institution):
    old = entry_for(institution).token
    nurse = sign_in(Client(), make_staff(institution, "midori-nurse", StaffRole.STAFF))
    assert nurse.post("/console/entry/rotate/", {"confirm": "yes"}).status_code == 403
    assert signed_in.post("/console/entry/rotate/", {}).status_code == 400
    assert InstitutionEntry.objects.get(institution=institution).token == old
    response = signed_in.post("/console/entry/rotate/", {"confirm": "yes"})
    assert response["Location"] == "/console/entry/?rotated=1"
    new = InstitutionEntry.objects.get(institution=institution).token
    assert new != old
    assert Client().get(f"/consent/e/{old}/").status_code == 404
    assert Client().get(f"/consent/e/{new}/").status_code == 200


def test_consented_patients_are_listed_and_each_listing_is_logged_as_this_staff_member(
    signed_in, admin, make_patient, institution, other_institution, register
):
    home, tele, elsewhere = make_patient(), make_patient(card=1), make_patient(card=2)
    home_consent = register(home, institution)
    register(
        tele, institution, kind="telehealth", visit_date=datetime.date.today() + datetime.timedelta(days=2)
    )
    register(elsewhere, other_institution)
    page = signed_in.get("/console/patients/").content.decode()
    assert home.person.name in page and tele.person.name in page
    assert elsewhere.person.name not in page
    only_home = signed_in.get("/console/patients/", {"kind": "home_visit"}).content.decode()
    assert home.person.name in only_home and tele.person.name not in only_home
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    assert "no-patients" in signed_in.get("/console/patients/", {"given_from": tomorrow}).content.decode()
    rows = AccessEvent.objects.filter(person_id=home.person.pk, actor_type="institution_staff")
    assert rows.exists()
    row = rows.latest("occurred_at")
    assert (
        row.actor_id == f"staff:{admin.username}"
        and row.basis == "consent"
        and row.consent_id == str(home_consent.pk)
    )
    assert not AccessEvent.objects.filter(
        person_id=elsewhere.person.pk, actor_type="institution_staff"
    ).exists()


def test_an_ended_consent_is_listed_without_the_patients_name_and_not_logged(
    signed_in, make_patient, institution, register
):
    # given a patient whose consent here was cancelled
    gone = make_patient()
    do_cancel_consent(register(gone, institution), by="patient", actor_id="card:x")
    logged_before = AccessEvent.objects.filter(
        person_id=gone.person.pk, actor_type="institution_staff"
    ).count()

    # when staff list ended and all consents
    pages = [signed_in.get("/console/patients/", {"status": s}).content.decode() for s in ("ended", "all")]

    # then the consent is listed, but not who the patient was, and no read is logged
    for page in pages:
        assert "patient-withheld" in page
        assert gone.person.name not in page and gone.person.name_kana not in page
    assert (
        AccessEvent.objects.filter(person_id=gone.person.pk, actor_type="institution_staff").count()
        == logged_before
    )


def test_a_patient_view_shows_eligibility_and_consented_items_and_is_logged(
    signed_in, admin, patient, institution, register
):
    MedicationRecord.objects.create(
        person=patient.person,
        source="receipt",
        dispensed_on=datetime.date.today() - datetime.timedelta(days=10),
        drug_code="620000001",
        drug_name="アムロジピン錠5mg",
        quantity=1,
        unit="錠",
        usage="1日1回朝食後",
        days=28,
    )
    TreatmentRecord.objects.create(
        person=patient.person,
        treated_on=datetime.date.today() - datetime.timedelta(days=5),
        procedure_code="111000110",
        procedure_name="初診料",
    )
    consent = register(patient, institution, items=("medication",))
    before = AccessEvent.objects.count()
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()
    assert 'data-validity="1"' in page and "アムロジピン錠5mg" in page
    assert "初診料" not in page  # treatment was not consented
    row = AccessEvent.objects.order_by("-id").first()
    assert AccessEvent.objects.count() == before + 1
    assert row.actor_type == "institution_staff" and row.actor_id == f"staff:{admin.username}"
    assert row.basis == "consent" and sorted(row.items) == ["medication", "qualification"]
    assert row.person_id == patient.person.pk and row.institution_code == institution.code


def test_a_cancelled_consent_is_refused_on_the_next_view(signed_in, patient, institution, register):
    consent = register(patient, institution)
    assert signed_in.get(f"/console/patients/{consent.pk}/").status_code == 200
    do_cancel_consent(consent, by="patient", actor_id="p")
    response = signed_in.get(f"/console/patients/{consent.pk}/")
    assert response.status_code == 404 and "console_patient_not_found" in response.content.decode()
    assert patient.person.name not in response.content.decode()


def test_another_institutions_patient_is_not_found(signed_in, patient, other_institution, register):
    consent = register(patient, other_institution)
    response = signed_in.get(f"/console/patients/{consent.pk}/")
    assert response.status_code == 404 and patient.person.name not in response.content.decode()
    assert signed_in.post(f"/console/patients/{consent.pk}/requery/").status_code == 404
    assert not AccessEvent.objects.filter(
        person_id=patient.person.pk, actor_type="institution_staff"
    ).exists()


def test_requery_uses_the_insurance_numbers_on_file_for_home_visit_patients(
    signed_in, patient, make_patient, institution, register
):
    consent = register(patient, institution)
    response = signed_in.post(f"/console/patients/{consent.pk}/requery/")
    page = response.content.decode()
    assert response.status_code == 200 and 'data-validity="1"' in page
    qualification = patient.person.qualifications.get()
    assert qualification.number in page and qualification.insurer.number in page
    row = AccessEvent.objects.order_by("-id").first()
    assert (
        row.basis == "requery" and row.actor_type == "institution_staff" and row.consent_id == str(consent.pk)
    )

    tele = register(make_patient(card=1), institution, kind="telehealth", visit_date=datetime.date.today())
    refused = signed_in.post(f"/console/patients/{tele.pk}/requery/")
    assert refused.status_code == 404 and "console_requery_home_visit_only" in refused.content.decode()


def _public_jwk_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_an_admin_registers_and_revokes_an_api_client(signed_in, make_staff, institution):
    response = signed_in.post(
        "/console/clients/",
        {
            "name": "電子カルテ",
            "jwks": _public_jwk_pem(),
            "scope": ["qualification.read", "consent.read"],
        },
    )
    assert response.status_code == 200
    client = ApiClient.objects.get(institution=institution)
    assert client.client_id in response.content.decode() and client.scopes == [
        "qualification.read",
        "consent.read",
    ]

    nurse = sign_in(Client(), make_staff(institution, "midori-nurse", StaffRole.STAFF))
    assert client.client_id in nurse.get("/console/clients/").content.decode()  # staff may see it …
    assert (
        nurse.post(f"/console/clients/{client.client_id}/revoke/", {"confirm": "yes"}).status_code == 403
    )  # … not revoke
    assert (
        nurse.post(
            "/console/clients/", {"name": "x", "jwks": _public_jwk_pem(), "scope": ["consent.read"]}
        ).status_code
        == 403
    )

    signed_in.post(f"/console/clients/{client.client_id}/revoke/", {"confirm": "yes"})
    client.refresh_from_db()
    assert client.is_revoked


def test_a_private_key_is_refused_with_its_code(signed_in):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    response = signed_in.post("/console/clients/", {"name": "x", "jwks": pem, "scope": ["consent.read"]})
    assert response.status_code == 400 and "jwks_private_key" in response.content.decode()
    assert not ApiClient.objects.exists()


def test_another_institutions_client_cannot_be_revoked(signed_in, other_institution):
    from clinicapi.auth import do_register_client

    theirs = do_register_client(other_institution, "their system", _public_jwk_pem(), ["consent.read"])
    assert (
        signed_in.post(f"/console/clients/{theirs.client_id}/revoke/", {"confirm": "yes"}).status_code == 404
    )
    assert theirs.client_id not in signed_in.get("/console/clients/").content.decode()
    theirs.refresh_from_db()
    assert not theirs.is_revoked


def test_the_catch_up_endpoint_lists_only_this_institutions_events(
    signed_in, patient, make_patient, institution, other_institution, register
):
    mine = register(patient, institution)
    theirs = register(make_patient(card=1), other_institution)
    ids = [e["id"] for e in signed_in.get("/console/events.json").json()["events"]]
    assert f"{mine.pk}.registered" in ids and f"{theirs.pk}.registered" not in ids
    later = (mine.given_at + datetime.timedelta(seconds=1)).isoformat()
    assert signed_in.get("/console/events.json", {"since": later}).json()["events"] == []
    assert Client().get("/console/events.json").status_code == 401


@pytest.mark.parametrize("since", ["2026-13-45T00:00:00", "yesterday"])
def test_the_catch_up_endpoint_refuses_a_since_that_is_no_time(signed_in, since):
    response = signed_in.get("/console/events.json", {"since": since})

    assert response.status_code == 400
    assert response.json()["code"] == "console_events_since_invalid"


def test_posts_without_a_csrf_token_are_refused(admin, signed_in, institution):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/console/signin/", {"username": admin.username, "password": "x"}).status_code == 403
    strict.cookies = signed_in.cookies  # a signed-in session, but a forged form without the token
    old = entry_for(institution).token
    assert strict.post("/console/entry/rotate/", {"confirm": "yes"}).status_code == 403
    assert strict.post("/console/signout/everywhere/").status_code == 403
    assert InstitutionEntry.objects.get(institution=institution).token == old


def test_staff_admins_add_staff_with_a_one_time_link(signed_in, make_staff, institution):
    response = signed_in.post("/console/staff/", {"username": "midori-nurse2", "role": "staff"})
    page = response.content.decode()
    assert response.status_code == 200 and "/console/enrol/" in page
    nurse = sign_in(Client(), make_staff(institution, "midori-nurse", StaffRole.STAFF))
    assert nurse.get("/console/staff/").status_code == 403


def test_the_console_speaks_english_when_asked(signed_in):
    signed_in.post("/i18n/setlang/", {"language": "en", "next": "/console/"})
    page = signed_in.get("/console/").content.decode()
    assert '<html lang="en">' in page and "Live board" in page and "ライブボード" not in page
    signin = Client(HTTP_ACCEPT_LANGUAGE="en").get("/console/signin/").content.decode()
    assert "User name" in signin


def test_staff_bring_a_home_visit_consents_end_forward_but_never_extend_it(
    signed_in, patient, institution, register
):
    today = timezone.localdate()
    consent = register(patient, institution, available_until=today + datetime.timedelta(days=60))
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()
    assert 'id="set-end"' in page and 'id="end-until"' in page

    later = signed_in.post(
        f"/console/patients/{consent.pk}/end/", {"until": (today + datetime.timedelta(days=90)).isoformat()}
    )
    assert later.status_code == 302
    page = signed_in.get(later["Location"]).content.decode()
    assert 'data-code="consent_end_not_shorter"' in page

    sooner = today + datetime.timedelta(days=10)
    response = signed_in.post(f"/console/patients/{consent.pk}/end/", {"until": sooner.isoformat()})
    assert 'id="end-set"' in signed_in.get(response["Location"]).content.decode()
    consent.refresh_from_db()
    assert (consent.available_until - datetime.timedelta(seconds=1)).astimezone(TOKYO).date() == sooner
    row = AccessEvent.objects.get(detail__action="consent_end_set")
    assert row.actor_type == "institution_staff" and row.consent_id == str(consent.pk)


def test_a_board_that_was_away_catches_up_on_an_earlier_end(signed_in, patient, institution, register):
    # given a home-visit consent whose end staff brought forward while a board was closed
    consent = register(
        patient, institution, available_until=timezone.localdate() + datetime.timedelta(days=60)
    )
    until = (timezone.localdate() + datetime.timedelta(days=5)).isoformat()
    signed_in.post(f"/console/patients/{consent.pk}/end/", {"until": until})

    # when the board asks what it missed
    events = signed_in.get("/console/events.json").json()["events"]

    # then the end is there after the registration, with nothing personal in it
    assert [e["id"] for e in events] == [f"{consent.pk}.registered", f"{consent.pk}.end_set"]
    assert events[1]["kind"] == "home_visit" and set(events[1]) == {
        "id",
        "event",
        "consent_id",
        "kind",
        "items",
        "at",
    }


def test_telehealth_and_other_institutions_consents_get_no_end_date(
    signed_in, patient, make_patient, institution, other_institution, register
):
    tele = register(patient, institution, kind="telehealth", visit_date=datetime.date.today())
    assert 'id="set-end"' not in signed_in.get(f"/console/patients/{tele.pk}/").content.decode()
    elsewhere = register(make_patient(card=1), other_institution)
    until = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
    assert signed_in.post(f"/console/patients/{elsewhere.pk}/end/", {"until": until}).status_code == 404
    assert not AccessEvent.objects.filter(detail__action="consent_end_set").exists()
