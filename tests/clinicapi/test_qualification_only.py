"""A qualification-only site (資格確認限定型: 柔道整復・あはき施術所, 健診機関) on the API: eligibility for
its own consented patients, and every medical read, JSON and FHIR, refused with its code and reason
and logged as a refusal. Real tokens, real card-proved consents."""

import json

import pytest

from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution
from tests.clinicapi.conftest import institutional_system, register_consent

pytestmark = pytest.mark.django_db

CODE = "medical_read_qualification_only"
# What such a site's system is granted: no medical scope can be.
SITE_SCOPES = ["qualification.read", "consent.read"]
MEDICAL_READS = [
    ("/api/v1/patients/{pid}/medication", {}, "medication"),
    ("/api/v1/patients/{pid}/treatment", {}, "treatment"),
    ("/api/v1/patients/{pid}/checkups", {}, "checkup"),
    ("/api/v1/fhir/patients/{pid}/medication", {}, "medication"),
    ("/api/v1/fhir/patients/{pid}/treatment", {}, "treatment"),
    ("/api/v1/fhir/patients/{pid}/checkups", {}, "checkup"),
    ("/api/v1/fhir/MedicationDispense", {"patient": "{pid}"}, "medication"),
    ("/api/v1/fhir/Procedure", {"patient": "Patient/{pid}"}, "treatment"),
    ("/api/v1/fhir/Observation", {"patient": "{pid}"}, "checkup"),
    ("/api/v1/fhir/MedicationDispense/{pid}-0123456789abcdef", {}, "medication"),
    ("/api/v1/fhir/Procedure/{pid}-0123456789abcdef", {}, "treatment"),
    ("/api/v1/fhir/Observation/{pid}-0123456789abcdef", {}, "checkup"),
]


@pytest.fixture
def judo_clinic(db):
    return Institution.objects.create(
        code=with_check_digit("131100001"), name="さくら接骨院", qualification_only=True
    )


@pytest.fixture
def site_api(api_settings, judo_clinic, client):
    return institutional_system(judo_clinic, client, SITE_SCOPES)


def refusals(person=None):
    return AccessEvent.objects.filter(outcome="refused", basis="qualification_only", person=person)


def test_a_qualification_only_site_reads_eligibility_of_its_consented_patient(site_api, make_patient):
    # given a patient who consented at the 接骨院 (qualification only)
    patient = make_patient()
    register_consent(patient, site_api.institution, items=("qualification",))
    pid = patient_id_for(site_api.institution.code, patient.person.pk)

    # when its system reads eligibility
    response = site_api.get(f"/api/v1/patients/{pid}/eligibility")

    # then it gets it, logged as a read under the consent
    assert response.status_code == 200, response.json()
    assert AccessEvent.objects.filter(person=patient.person, outcome="ok", items=["qualification"]).exists()


@pytest.mark.parametrize(("path", "params", "item"), MEDICAL_READS)
def test_every_medical_read_of_a_qualification_only_site_is_refused_with_its_reason(
    site_api, make_patient, path, params, item
):
    # given the site's own consented patient
    patient = make_patient()
    register_consent(patient, site_api.institution, items=("qualification",))
    pid = patient_id_for(site_api.institution.code, patient.person.pk)

    # when its system asks for medical information (its token has no medical scope: none can be granted)
    response = site_api.get(path.format(pid=pid), **{k: v.format(pid=pid) for k, v in params.items()})

    # then 403 with the code and a message saying why (JSON, or FHIR's OperationOutcome), not a bare
    # missing scope
    assert response.status_code == 403
    text = json.dumps(response.json(), ensure_ascii=False)
    assert CODE in text and "資格確認のみを行う施設" in text and "さくら接骨院" in text, text
    # and the refusal is in the patient's own access log, nothing read
    [row] = refusals(patient.person)
    assert row.items == [item] and row.actor_id == site_api.client_id
    assert row.detail == {"read": item, "refusal": CODE}
    assert not AccessEvent.objects.filter(person=patient.person, outcome="ok", items=[item]).exists()


def test_the_refusal_is_the_same_for_an_unknown_patient_and_logged_for_the_institution(site_api):
    # when the site asks for the medication of a patient id that names nobody
    response = site_api.get("/api/v1/patients/" + "a" * 26 + "/medication")

    # then the same refusal (it depends on the site, not the patient), logged without a person
    assert response.status_code == 403 and response.json()["code"] == CODE
    [row] = refusals(None).filter(institution_code=site_api.institution.code)
    assert row.items == ["medication"]


def test_a_site_that_became_qualification_only_is_refused_even_with_a_medical_token(
    api_settings, clinic, client, make_patient
):
    # given a clinic whose system still holds a token with the medication scope
    api = institutional_system(clinic, client, ["qualification.read", "medication.read"])
    patient = make_patient()
    register_consent(patient, clinic, items=("medication",))
    clinic.qualification_only = True
    clinic.save()

    # when it reads medication
    pid = patient_id_for(clinic.code, patient.person.pk)
    response = api.get(f"/api/v1/patients/{pid}/medication")

    # then refused with the reason and logged
    assert response.status_code == 403 and response.json()["code"] == CODE
    assert refusals(patient.person).count() == 1


def test_an_ordinary_clinic_without_the_scope_still_gets_the_missing_scope(api_settings, clinic, client):
    # given an ordinary clinic's system without the medication scope
    api = institutional_system(clinic, client, ["qualification.read"])

    # when it reads medication
    response = api.get("/api/v1/patients/" + "a" * 26 + "/medication")

    # then the missing scope, and nothing logged
    assert response.status_code == 403 and response.json()["code"] == "scope_insufficient"
    assert not refusals(None).exists()
