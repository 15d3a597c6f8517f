"""Zero reads outside consent: institutions × patients × items × consent states × dates.

Each cell is one real request with a real token. A cell answers 200 exactly when a consent of that
institution, in force now, holds the item; every 200 adds exactly one "ok" access-log row for that
institution and person, every refusal adds none and carries the very body of an unknown patient.
"""

import datetime

import pytest

from clinicapi.patients import patient_id_for
from homeconsent.consent import rules
from homeconsent.consent.services import do_cancel_all
from homeconsent.registry.models import CheckupResult, LimitCertificate, MedicationRecord, TreatmentRecord
from tests.clinicapi.conftest import register_consent, register_expired_telehealth

pytestmark = pytest.mark.django_db

NOT_FOUND = {"code": "not_found", "message": "見つかりません。", "message_en": "Not found."}
ENDPOINTS = {
    "eligibility": "qualification",
    "medication": "medication",
    "treatment": "treatment",
    "checkups": "checkup",
}


def give_records(person):
    today = rules.today()
    q = person.qualifications.get()
    LimitCertificate.objects.create(
        qualification=q,
        classification="A04",
        valid_from=today - datetime.timedelta(days=30),
        valid_until=today + datetime.timedelta(days=300),
    )
    MedicationRecord.objects.create(
        person=person,
        source="dispensing",
        dispensed_on=today - datetime.timedelta(days=3),
        drug_code="620000001",
        drug_name="アムロジピン錠5mg",
        quantity=1,
        unit="錠",
    )
    TreatmentRecord.objects.create(
        person=person,
        treated_on=today - datetime.timedelta(days=10),
        procedure_code="112007410",
        procedure_name="再診料",
    )
    CheckupResult.objects.create(
        person=person,
        checked_on=today - datetime.timedelta(days=100),
        item_code="9N001000000000001",
        item_name="身長",
        value="160.2",
        unit="cm",
    )


@pytest.fixture
def world(clinic, other_clinic, make_patient):
    """Patients in every consent state towards the clinic (A) and the other clinic (B).
    Returns {name: (patient, {institution code: items readable now})}."""
    A, B = clinic.code, other_clinic.code
    everything = ["medication", "treatment", "checkup", "limit_certificate"]
    patients = {
        name: make_patient()
        for name in (
            "none",
            "active",
            "cancelled",
            "superseded",
            "expired_telehealth",
            "telehealth_today",
            "other_only",
        )
    }
    for patient in patients.values():
        give_records(patient.person)
    register_consent(patients["active"], clinic, "home_visit", ["medication", "limit_certificate"])
    register_consent(patients["cancelled"], clinic, "home_visit", everything)
    do_cancel_all(patients["cancelled"].person, by="patient", actor_id="card:test")
    register_consent(patients["superseded"], clinic, "home_visit", everything)
    register_consent(patients["superseded"], clinic, "home_visit", ["checkup"])
    register_expired_telehealth(patients["expired_telehealth"], clinic, everything)
    register_consent(
        patients["telehealth_today"], clinic, "telehealth", ["treatment"], visit_date=rules.today()
    )
    register_consent(patients["other_only"], other_clinic, "home_visit", everything)
    readable = {
        "none": {},
        "active": {A: {"qualification", "medication", "limit_certificate"}},
        "cancelled": {},
        "superseded": {A: {"qualification", "checkup"}},
        "expired_telehealth": {},
        "telehealth_today": {A: {"qualification", "treatment"}},
        "other_only": {B: {"qualification", "medication", "treatment", "checkup", "limit_certificate"}},
    }
    return {name: (patients[name], readable[name]) for name in patients}


def ok_rows_for(institution, person):
    from homeconsent.audit.models import AccessEvent

    return AccessEvent.objects.filter(institution_code=institution.code, person=person, outcome="ok").count()


def test_no_read_outside_consent_and_a_log_row_for_every_read(world, clinic_api, other_api):
    today = rules.today()
    dates = {
        "eligibility": [{}, {"on": (today - datetime.timedelta(days=400)).isoformat()}],
        "medication": [{}, {"month_from": f"{today.year - 1}-01", "month_to": today.strftime("%Y-%m")}],
        "treatment": [{}, {"date_from": (today - datetime.timedelta(days=30)).isoformat()}],
        "checkups": [{}, {"date_to": (today - datetime.timedelta(days=50)).isoformat()}],
    }
    reads = refused = 0
    for api in (clinic_api, other_api):
        institution = api.institution
        for name, (patient, readable) in world.items():
            allowed_items = readable.get(institution.code, set())
            patient_id = patient_id_for(institution.code, patient.person.pk)
            for endpoint, item in ENDPOINTS.items():
                for params in dates[endpoint]:
                    before = ok_rows_for(institution, patient.person)
                    response = api.get(f"/api/v1/patients/{patient_id}/{endpoint}", **params)
                    after = ok_rows_for(institution, patient.person)
                    cell = (institution.code, name, endpoint, params)
                    if item in allowed_items:
                        assert response.status_code == 200, cell
                        assert after == before + 1, cell
                        body = response.json()
                        assert body["patient_id"] == patient_id
                        if endpoint == "eligibility":
                            shows_limit = "limit_application_certificate_related_info" in body
                            assert shows_limit == ("limit_certificate" in allowed_items), cell
                        reads += 1
                    else:
                        assert response.status_code == 404, cell
                        assert response.json() == NOT_FOUND, cell
                        assert after == before, cell
                        refused += 1
    # the matrix really exercised both sides: 3 patients × 2 items × 2 dates at A, 4 items × 2 at B
    assert (reads, refused) == (20, 2 * 7 * 4 * 2 - 20)


def test_another_institutions_patient_id_reveals_nothing(world, clinic_api, other_clinic):
    # given a patient id made for the other clinic, and one that names nobody
    patient, _ = world["other_only"]
    theirs = patient_id_for(other_clinic.code, patient.person.pk)
    made_up = patient_id_for(clinic_api.institution.code, 987654321)

    # then the clinic gets the same 404 for both, and for garbage
    for patient_id in (theirs, made_up, "not-an-id", theirs[:-1] + ("A" if theirs[-1] != "A" else "B")):
        response = clinic_api.get(f"/api/v1/patients/{patient_id}/eligibility")
        assert response.status_code == 404 and response.json() == NOT_FOUND


def test_the_limit_certificate_is_shown_with_its_classification_when_consented(world, clinic_api):
    patient, _ = world["active"]
    body = clinic_api.get(
        f"/api/v1/patients/{patient_id_for(clinic_api.institution.code, patient.person.pk)}/eligibility"
    ).json()
    limit = body["limit_application_certificate_related_info"]
    assert limit["limit_application_certificate_classification_flag"] == "A04"
    assert limit["limit_application_certificate_classification"] == "エ"
