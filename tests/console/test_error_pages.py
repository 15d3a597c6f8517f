"""Console error pages carry their code, visibly and as data-code, with a message to act on."""

import re

from django.test import Client

from homeconsent.accounts.models import StaffRole

from .conftest import sign_in


def _error(page, element_id):
    return re.search(r'<p class="error"[^>]*id="' + element_id + r'"[^>]*>.*?</p>', page, re.S).group(0)


def test_an_invalid_enrolment_link_shows_its_code_and_what_to_do(db):
    response = Client().get("/console/enrol/not-a-real-token/")

    error = _error(response.content.decode(), "enrol-invalid")
    assert response.status_code == 404
    assert 'data-code="console_enrolment_link_invalid"' in error
    assert ">console_enrolment_link_invalid<" in error and "管理者に新しいリンク" in error


def test_not_allowed_shows_its_code_and_what_to_do(make_staff, institution):
    nurse = sign_in(Client(), make_staff(institution, "midori-nurse", StaffRole.STAFF))

    response = nurse.get("/console/staff/")

    error = _error(response.content.decode(), "forbidden")
    assert response.status_code == 403
    assert (
        'data-code="console_admin_only"' in error
        and ">console_admin_only<" in error
        and "管理者に依頼" in error
    )


def test_a_refusal_on_a_page_prints_its_code(signed_in):
    response = signed_in.post("/console/entry/rotate/", {})

    error = _error(response.content.decode(), "error")
    assert response.status_code == 400
    assert 'data-code="console_confirm_required"' in error and ">console_confirm_required<" in error


def test_a_patient_not_found_prints_its_code(signed_in):
    page = signed_in.get("/console/patients/999999/").content.decode()

    assert ">console_patient_not_found<" in _error(page, "error")
