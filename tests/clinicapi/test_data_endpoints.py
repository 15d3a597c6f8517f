"""The data endpoints one by one: consented patients, eligibility, 再照会, medical information,
institution-side cancellation, and their coded errors. Real tokens, real card-proved consents."""

import datetime
import re

import pytest

from clinicapi.patients import patient_id_for, patient_ids_for, person_id_from
from homeconsent.audit.models import AccessEvent
from homeconsent.consent import rules
from homeconsent.consent.models import Consent
from homeconsent.consent.services import do_cancel_all
from homeconsent.registry.models import MedicationRecord
from tests.clinicapi.conftest import institutional_system, register_consent, register_expired_telehealth

pytestmark = pytest.mark.django_db

NOT_FOUND = {"code": "not_found", "message": "見つかりません。", "message_en": "Not found."}


def pid(api, patient):
    return patient_id_for(api.institution.code, patient.person.pk)


def keys_of(patient, **overrides):
    q = patient.person.qualifications.get()
    keys = {
        "insurer_number": q.insurer.number,
        "symbol": q.symbol,
        "number": q.number,
        "branch": q.branch,
        "birth_date": patient.person.birth_date.isoformat(),
    }
    return keys | overrides


def without_time(body):
    return {k: v for k, v in body.items() if k != "process_execution_time"}


# --- patient ids ---------------------------------------------------------------------------------
def test_patient_ids_are_per_institution_stable_and_opaque(clinic, other_clinic):
    ours, theirs = patient_id_for(clinic.code, 42), patient_id_for(other_clinic.code, 42)

    assert ours != theirs and len(ours) == 26
    assert patient_id_for(clinic.code, 42) == ours
    assert person_id_from(clinic.code, ours) == 42
    assert person_id_from(clinic.code, theirs) is None
    assert person_id_from(clinic.code, patient_id_for(clinic.code, 43)) == 43
    assert person_id_from(clinic.code, ours.upper()) is None  # one canonical spelling
    # opaque: a long person id does not show through (a short one like 42 may, by chance, in 26 characters)
    assert "4242424242" not in patient_id_for(clinic.code, 4242424242)


def test_no_patient_id_starts_like_a_command_line_option(clinic):
    # given the ids of many persons (base64url began about one in 64 with "-", which argparse refused)
    ids = [patient_id_for(clinic.code, n) for n in range(1, 3000)]

    # then none starts with "-", and all are lower-case letters and digits 2-7
    assert all(i[0] != "-" and re.fullmatch(r"[a-z2-7]{26}", i) for i in ids)


def test_many_patient_ids_in_one_call_are_each_the_single_ones(clinic):
    # given persons, one of them twice, one with a long id
    persons = [1, 42, 42, 7, 2**40 + 3]

    # when their ids are made together (the batch pre-check)
    ids = patient_ids_for(clinic.code, persons)

    # then each is the id made alone
    assert ids == {p: patient_id_for(clinic.code, p) for p in persons}
    assert patient_ids_for(clinic.code, []) == {}


# --- consented patients --------------------------------------------------------------------------
def test_the_list_holds_this_institutions_consents_in_force_with_a_log_row_each(
    clinic_api, clinic, other_clinic, make_patient
):
    # given home-visit and telehealth patients here, a cancelled one, and one of another clinic
    home, tele, gone, elsewhere = make_patient(), make_patient(), make_patient(), make_patient()
    register_consent(home, clinic, "home_visit", ["medication"])
    register_consent(tele, clinic, "telehealth", ["treatment"], visit_date=rules.today())
    register_consent(gone, clinic, "home_visit", ["medication"])
    do_cancel_all(gone.person, by="patient", actor_id="card:x")
    register_consent(elsewhere, other_clinic, "home_visit", ["medication"])
    rows_before = AccessEvent.objects.filter(institution_code=clinic.code, items=["consent"]).count()

    # when the clinic lists its patients, all kinds, then home visits only, then ended ones
    listed = clinic_api.get("/api/v1/patients").json()
    home_only = clinic_api.get("/api/v1/patients", kind="home_visit").json()
    ended = clinic_api.get("/api/v1/patients", status="ended").json()

    # then it sees exactly its own patients, newest consent first, and each listing is logged
    assert [p["patient_id"] for p in listed["patients"]] == [pid(clinic_api, tele), pid(clinic_api, home)]
    assert listed["patients"][0]["consent"]["kind"] == "telehealth"
    assert listed["patients"][0]["consent"]["visit_date"] == rules.today().isoformat()
    assert (
        listed["patients"][1]["name"] == home.person.name
        and listed["patients"][1]["birthdate"] == "1948-04-02"
    )
    assert [p["patient_id"] for p in home_only["patients"]] == [pid(clinic_api, home)]
    assert [(p["patient_id"], p["consent"]["status"]) for p in ended["patients"]] == [
        (pid(clinic_api, gone), "cancelled")
    ]
    rows_after = AccessEvent.objects.filter(institution_code=clinic.code, items=["consent"]).count()
    assert rows_after - rows_before == 2 + 1  # the ended row read nothing personal: not logged


def test_an_ended_consent_lists_no_identifying_fields_and_is_not_logged(clinic_api, clinic, make_patient):
    # given a patient here whose consent has been cancelled, and one whose consent is in force
    gone, here = make_patient(), make_patient()
    register_consent(gone, clinic, "home_visit", ["medication"])
    do_cancel_all(gone.person, by="patient", actor_id="card:x")
    register_consent(here, clinic, "home_visit", ["medication"])
    logged_before = AccessEvent.objects.filter(person_id=gone.person.pk, items=["consent"]).count()

    # when the clinic lists all its patients, in JSON and in FHIR
    rows = {p["patient_id"]: p for p in clinic_api.get("/api/v1/patients", status="all").json()["patients"]}
    bundle = clinic_api.http.get(
        "/api/v1/patients",
        {"status": "all"},
        HTTP_ACCEPT="application/fhir+json",
        HTTP_AUTHORIZATION=f"Bearer {clinic_api.token}",
    ).json()

    # then the ended row is the opaque id and the consent's terms alone
    ended = rows[pid(clinic_api, gone)]
    assert set(ended) == {"patient_id", "consent"}
    assert ended["consent"]["status"] == "cancelled" and ended["consent"]["ended_at"]
    assert rows[pid(clinic_api, here)]["name"] == here.person.name
    fhir_patients = {
        e["resource"]["identifier"][0]["value"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Patient"
    }
    assert set(fhir_patients[pid(clinic_api, gone)]) == {"resourceType", "id", "meta", "identifier"}
    assert gone.person.name not in str(bundle) and gone.person.name_kana not in str(bundle)
    assert AccessEvent.objects.filter(person_id=gone.person.pk, items=["consent"]).count() == logged_before


def test_the_list_pages_with_a_stable_cursor_and_filters_by_dates(clinic_api, clinic, make_patient):
    patients = [make_patient() for _ in range(5)]
    for patient in patients:
        register_consent(patient, clinic, "home_visit", ["medication"])
    expected = [pid(clinic_api, p) for p in reversed(patients)]

    first = clinic_api.get("/api/v1/patients", page_size=2).json()
    second = clinic_api.get("/api/v1/patients", page_size=2, cursor=first["next_cursor"]).json()
    third = clinic_api.get("/api/v1/patients", page_size=2, cursor=second["next_cursor"]).json()
    today = rules.today().isoformat()
    tomorrow = (rules.today() + datetime.timedelta(days=1)).isoformat()

    assert [p["patient_id"] for p in first["patients"] + second["patients"] + third["patients"]] == expected
    assert third["next_cursor"] is None
    assert clinic_api.get("/api/v1/patients", consented_from=today, consented_to=today).json()["count"] == 5
    assert clinic_api.get("/api/v1/patients", consented_from=tomorrow).json()["count"] == 0
    bad = clinic_api.get("/api/v1/patients", cursor="!!!")
    assert bad.status_code == 400 and bad.json()["code"] == "cursor_invalid"
    wrong_kind = clinic_api.get("/api/v1/patients", kind="disaster")
    assert wrong_kind.status_code == 400 and wrong_kind.json()["code"] == "input_invalid"


def test_the_telehealth_list_filters_by_visit_date(clinic_api, clinic, make_patient):
    today_patient, tomorrow_patient = make_patient(), make_patient()
    tomorrow = rules.today() + datetime.timedelta(days=1)
    register_consent(today_patient, clinic, "telehealth", ["treatment"], visit_date=rules.today())
    register_consent(tomorrow_patient, clinic, "telehealth", ["treatment"], visit_date=tomorrow)

    body = clinic_api.get(
        "/api/v1/patients", kind="telehealth", visit_from=tomorrow.isoformat(), visit_to=tomorrow.isoformat()
    ).json()

    assert [p["patient_id"] for p in body["patients"]] == [pid(clinic_api, tomorrow_patient)]


# --- cancellation ----------------------------------------------------------------------------------
def test_a_cancellation_by_the_patient_stops_the_very_next_read(clinic_api, clinic, make_patient):
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    url = f"/api/v1/patients/{pid(clinic_api, patient)}/medication"
    assert clinic_api.get(url).status_code == 200

    do_cancel_all(patient.person, by="patient", actor_id="card:x")

    response = clinic_api.get(url)
    assert response.status_code == 404 and response.json() == NOT_FOUND


def test_the_institution_cancels_through_the_api_and_reads_stop(clinic_api, clinic, make_patient):
    patient = make_patient()
    consent = register_consent(patient, clinic, "home_visit", ["medication"])
    base = f"/api/v1/patients/{pid(clinic_api, patient)}"

    answer = clinic_api.post(f"{base}/cancel", {"kind": "home_visit"})

    assert answer.status_code == 200
    assert answer.json()["cancelled"][0]["consent_id"] == consent.pk
    assert answer.json()["cancelled"][0]["ended_by"] == "institution"
    consent.refresh_from_db()
    assert consent.status == "cancelled" and consent.ended_by == "institution"
    row = AccessEvent.objects.filter(consent_id=str(consent.pk), detail__action="consent_cancelled").get()
    assert (row.actor_type, row.actor_id) == ("institution_client", clinic_api.client_id)
    assert clinic_api.get(f"{base}/eligibility").status_code == 404
    again = clinic_api.post(f"{base}/cancel", {})
    assert again.status_code == 404 and again.json() == NOT_FOUND


def test_cancelling_telehealth_ends_the_consent_of_every_booked_visit_and_nothing_else(
    clinic_api, clinic, make_patient
):
    patient = make_patient()
    soon, later = rules.today() + datetime.timedelta(days=7), rules.today() + datetime.timedelta(days=30)
    visits = [
        register_consent(patient, clinic, "telehealth", ["medication"], visit_date=day)
        for day in (soon, later)
    ]
    home = register_consent(patient, clinic, "home_visit", ["medication"])

    answer = clinic_api.post(f"/api/v1/patients/{pid(clinic_api, patient)}/cancel", {"kind": "telehealth"})

    assert answer.status_code == 200
    assert sorted(c["consent_id"] for c in answer.json()["cancelled"]) == sorted(c.pk for c in visits)
    assert set(Consent.objects.filter(person=patient.person, status="active")) == {home}


def test_another_institution_cannot_cancel_and_learns_nothing(clinic_api, other_api, clinic, make_patient):
    patient = make_patient()
    consent = register_consent(patient, clinic, "home_visit", ["medication"])

    for patient_id in (pid(clinic_api, patient), pid(other_api, patient)):
        response = other_api.post(f"/api/v1/patients/{patient_id}/cancel", {})
        assert response.status_code == 404 and response.json() == NOT_FOUND

    consent.refresh_from_db()
    assert consent.status == "active"


def test_cancelling_needs_the_consent_write_scope(clinic, client, make_patient):
    api = institutional_system(clinic, client, scopes=["qualification.read", "consent.read"])
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])

    response = api.post(f"/api/v1/patients/{pid(api, patient)}/cancel", {})

    assert response.status_code == 403 and response.json()["code"] == "scope_insufficient"
    assert Consent.objects.get().status == "active"


# --- 再照会 -----------------------------------------------------------------------------------------
def test_requery_answers_for_a_home_visit_patient_and_logs_it(clinic_api, clinic, make_patient):
    patient = make_patient()
    consent = register_consent(patient, clinic, "home_visit", ["medication"])

    response = clinic_api.post("/api/v1/requery", keys_of(patient))

    body = response.json()
    assert response.status_code == 200
    assert body["qualification_validity"] == "1" and body["reference_classification"] == "2"
    assert body["patient_id"] == pid(clinic_api, patient)
    assert body["qualification"]["insured_identification_number"] == keys_of(patient)["number"]
    row = AccessEvent.objects.filter(person=patient.person, basis="requery").get()
    assert (row.outcome, row.consent_id, row.actor_id) == ("ok", str(consent.pk), clinic_api.client_id)


def test_requery_without_a_home_visit_consent_answers_like_nobody(
    clinic_api, clinic, other_clinic, make_patient
):
    # given a telehealth-only patient, a patient of another clinic, and keys that match nobody
    tele, elsewhere, home = make_patient(), make_patient(), make_patient()
    register_consent(tele, clinic, "telehealth", ["treatment"], visit_date=rules.today())
    register_consent(elsewhere, other_clinic, "home_visit", ["medication"])
    register_consent(home, clinic, "home_visit", ["medication"])
    nobody = keys_of(home, number="99999")

    answers = [
        clinic_api.post("/api/v1/requery", keys) for keys in (keys_of(tele), keys_of(elsewhere), nobody)
    ]

    # then all three answers are the same validity 4, with no patient id and no qualification
    bodies = [without_time(a.json()) for a in answers]
    assert all(a.status_code == 200 for a in answers)
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["qualification_validity"] == "4" and bodies[0]["patient_id"] is None
    assert bodies[0]["qualification"] is None
    # and the persons matched see a refused attempt in their log, with no read
    for person in (tele.person, elsewhere.person):
        outcomes = set(
            AccessEvent.objects.filter(person=person, basis="requery").values_list("outcome", flat=True)
        )
        assert outcomes == {"refused"}


def test_requery_with_bad_keys_is_input_invalid_per_field(clinic_api):
    response = clinic_api.post(
        "/api/v1/requery",
        {
            "insurer_number": "01130013",
            "symbol": "1",
            "number": "2",
            "branch": "0",
            "birth_date": "1948-02-30",
        },
    )
    body = response.json()
    assert response.status_code == 400 and body["code"] == "input_invalid"
    assert set(body["details"]) == {"insurer_number", "branch", "birth_date"}


# --- medical information ---------------------------------------------------------------------------
def test_medication_by_month_from_all_three_sources(clinic_api, clinic, make_patient):
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    today = rules.today()
    this_month = today.replace(day=1)
    last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    old = (this_month - datetime.timedelta(days=200)).replace(day=1)
    for source, day in (
        ("claims", last_month),
        ("e_prescription", this_month),
        ("dispensing", this_month),
        ("claims", old),
    ):
        MedicationRecord.objects.create(
            person=patient.person,
            source=source,
            dispensed_on=day,
            drug_code="620000001",
            drug_name="アムロジピン錠5mg",
            quantity="1.500",
            unit="錠",
        )
    url = f"/api/v1/patients/{pid(clinic_api, patient)}/medication"

    body = clinic_api.get(
        url, month_from=last_month.strftime("%Y-%m"), month_to=this_month.strftime("%Y-%m")
    ).json()
    dispensing_only = clinic_api.get(url, month_from=old.strftime("%Y-%m"), source="dispensing").json()

    assert [m["month"] for m in body["months"]] == [
        this_month.strftime("%Y-%m"),
        last_month.strftime("%Y-%m"),
    ]
    assert sorted(r["source"] for r in body["months"][0]["records"]) == ["dispensing", "e_prescription"]
    assert body["months"][0]["records"][0]["quantity"] == "1.5" and body["count"] == 3
    assert dispensing_only["count"] == 1
    bad = clinic_api.get(url, month_from="2025-13")
    assert (
        bad.status_code == 400
        and bad.json()["code"] == "input_invalid"
        and "month_from" in bad.json()["details"]
    )


def test_an_expired_telehealth_consent_reads_nothing_any_more(clinic_api, clinic, make_patient):
    patient = make_patient()
    register_expired_telehealth(patient, clinic, ["medication"])

    response = clinic_api.get(f"/api/v1/patients/{pid(clinic_api, patient)}/medication")

    assert response.status_code == 404 and response.json() == NOT_FOUND
    assert not AccessEvent.objects.filter(person=patient.person, actor_type="institution_client").exists()


def test_a_medical_scope_is_needed_on_top_of_the_consent(clinic, client, make_patient):
    api = institutional_system(clinic, client, scopes=["qualification.read"])
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])

    response = api.get(f"/api/v1/patients/{pid(api, patient)}/medication")

    assert response.status_code == 403 and response.json()["code"] == "scope_insufficient"
    assert api.get(f"/api/v1/patients/{pid(api, patient)}/eligibility").status_code == 200


def test_answers_with_personal_data_are_not_cached(clinic_api, clinic, make_patient):
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    response = clinic_api.get(f"/api/v1/patients/{pid(clinic_api, patient)}/eligibility")
    assert response["Cache-Control"] == "no-store"
