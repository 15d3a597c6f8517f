"""POST /api/v1/paper-certificate: an institution's system checks a patient who shows a paper
eligibility certificate (資格確認書) by the keys printed on it (scope paper_certificate.read)."""

import pytest

from homeconsent.audit.models import AccessEvent
from tests.paper_certificates import paper_holder, printed_keys

from .conftest import ALL_SCOPES, institutional_system

PATH = "/api/v1/paper-certificate"
SCOPES = [*ALL_SCOPES, "paper_certificate.read"]


@pytest.fixture
def front_desk(api_settings, clinic, client):
    """The clinic's reception system, allowed the paper path."""
    return institutional_system(clinic, client, SCOPES)


def test_the_answer_names_the_path_and_carries_eligibility_only(front_desk, clinic, insurer):
    # given a patient without a card, holding a 資格確認書 and a 公費 certificate
    holder = paper_holder(insurer, with_public_expense=True)
    # when the system sends the printed keys
    response = front_desk.post(PATH, printed_keys(holder))
    # then eligibility answers by the paper path: no patient id, no consent, no 限度額
    body = response.json()
    assert response.status_code == 200, body
    assert body["path"] == "paper_certificate" and body["reference_classification"] == "2"
    assert body["qualification_validity"] == "1" and body["qualification"]["name"] == holder.name
    assert [c["public_expense_law_number"] for c in body["public_expense_certificate_list"]] == ["54"]
    assert not {"patient_id", "consent", "limit_application_certificate_related_info"} & set(body)
    assert response["Cache-Control"] == "no-store"
    # and the patient's log has the check by this client under the paper basis
    row = AccessEvent.objects.get(person=holder)
    assert (row.basis, row.actor_type, row.actor_id) == (
        "paper_certificate",
        "institution_client",
        front_desk.client_id,
    )
    assert row.institution_code == clinic.code and row.items == ["qualification"]


def test_the_path_needs_its_scope(clinic_api, insurer):
    holder = paper_holder(insurer)
    response = clinic_api.post(PATH, printed_keys(holder))  # every other scope, not this one
    assert response.status_code == 403 and response.json()["code"] == "scope_insufficient"
    assert not AccessEvent.objects.filter(person=holder).exists()


def test_a_person_with_a_registered_card_is_refused_409_with_what_to_do(front_desk, make_patient):
    patient = make_patient()
    response = front_desk.post(PATH, printed_keys(patient.person))
    body = response.json()
    assert response.status_code == 409 and body["code"] == "paper_certificate_card_registered"
    assert "カード" in body["message"] and "with the card" in body["message_en"]
    assert AccessEvent.objects.get(person=patient.person, basis="paper_certificate").outcome == "refused"


def test_bad_keys_are_input_invalid_per_field_and_nothing_is_logged(front_desk):
    response = front_desk.post(
        PATH,
        {
            "insurer_number": "39131017",
            "symbol": "88",
            "number": "70001",
            "branch": "1",
            "birth_date": "1944-02-30",
        },
    )
    body = response.json()
    assert response.status_code == 400 and body["code"] == "input_invalid"
    assert set(body["details"]) == {"insurer_number", "branch", "birth_date"}
    assert not AccessEvent.objects.filter(basis="paper_certificate").exists()


def test_keys_matching_nobody_answer_the_same_404_as_an_unknown_patient(front_desk, insurer):
    holder = paper_holder(insurer)
    response = front_desk.post(PATH, printed_keys(holder) | {"number": "99999"})
    unknown = front_desk.get("/api/v1/patients/aaaaaaaaaaaaaaaaaaaaaaaaaa/eligibility")
    assert response.status_code == unknown.status_code == 404
    assert response.json() == unknown.json()


def test_too_many_checks_answer_429_with_retry_after(front_desk, insurer, settings):
    settings.PAPER_CERTIFICATE_CHECK_LIMITS = {"actor": 1, "institution": 100}
    holder = paper_holder(insurer)
    assert front_desk.post(PATH, printed_keys(holder)).status_code == 200
    response = front_desk.post(PATH, printed_keys(holder))
    assert response.status_code == 429 and response.json()["code"] == "paper_certificate_rate_limited"
    assert response["Retry-After"] == "3600"
