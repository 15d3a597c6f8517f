"""The console of a qualification-only institution (資格確認限定型): the patient page and the API
clients page tell staff why there is no medical information, and offer none."""

import pytest


@pytest.fixture
def site(institution):
    institution.qualification_only = True
    institution.save()
    return institution


def test_the_patient_page_says_why_no_medical_information_is_shown(signed_in, patient, site, register):
    # given a patient's consent at a qualification-only site
    consent = register(patient, site, items=("qualification",))

    # when staff open the patient
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()

    # then eligibility is there, the reason is said, and no medical section
    assert 'id="qualification-only"' in page and "当施設は資格確認のみを行う施設" in page
    assert 'id="medication"' not in page and 'id="checkups"' not in page and 'id="treatment"' not in page


def test_an_ordinary_institution_gets_no_such_note(signed_in, patient, institution, register):
    consent = register(patient, institution)
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()
    assert 'id="qualification-only"' not in page and 'id="medication"' in page


def test_the_api_clients_page_says_why_no_medical_scope_is_offered(signed_in, site):
    page = signed_in.get("/console/clients/").content.decode()
    assert 'id="qualification-only"' in page and "API" in page
    assert 'value="medication.read"' not in page and 'value="qualification.read"' in page
