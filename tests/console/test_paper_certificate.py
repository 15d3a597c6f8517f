"""The console's 資格確認書 page: reception staff enter the keys printed on a patient's paper
eligibility certificate and see the eligibility, the path named; refusals by code."""

import pytest
from django.core.cache import cache

from homeconsent.audit.models import AccessEvent
from tests.paper_certificates import paper_holder, printed_keys

PAGE = "/console/paper-certificate/"


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_the_page_is_in_the_navigation_with_a_form_for_the_printed_keys(signed_in):
    page = signed_in.get("/console/").content.decode()
    assert f'href="{PAGE}"' in page and "資格確認書" in page
    form = signed_in.get(PAGE).content.decode()
    for name in ("insurer_number", "symbol", "number", "branch", "birth_date"):
        assert f'name="{name}"' in form


def test_staff_see_the_eligibility_and_the_path_and_the_check_is_logged_as_them(
    signed_in, admin, institution, insurer
):
    # given a patient without a card, holding a 資格確認書 with a 公費 certificate
    holder = paper_holder(insurer, with_public_expense=True)
    # when reception enters the printed keys
    response = signed_in.post(PAGE, printed_keys(holder))
    # then the page names the path and shows the eligibility (公費 with it)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-path="paper_certificate"' in page and "資格確認書" in page
    assert holder.name in page and 'data-validity="1"' in page and "public-expense" in page
    # and the check is in the patient's log under this staff member's name, by the paper basis
    row = AccessEvent.objects.get(person=holder)
    assert (row.basis, row.actor_type, row.actor_id) == (
        "paper_certificate",
        "institution_staff",
        f"staff:{admin.username}",
    )
    assert row.institution_code == institution.code and row.detail["via"] == "console"


def test_bad_keys_are_refused_on_their_inputs_by_code(signed_in, insurer):
    response = signed_in.post(
        PAGE, {"insurer_number": "39131017", "symbol": "", "number": "1", "branch": "1", "birth_date": ""}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="insurer-number" ' in page and 'aria-describedby="insurer-number-error"' in page
    assert 'aria-describedby="branch-error"' in page and 'aria-describedby="birth-date-error"' in page
    assert 'data-code="insurer_number_invalid"' in page and "枝番「1」は正しくありません" in page
    assert 'value="39131017"' in page  # what was typed stays, to be corrected
    assert not AccessEvent.objects.filter(basis="paper_certificate").exists()


def test_a_registered_card_holder_is_refused_with_what_to_do(signed_in, make_patient):
    patient = make_patient()
    response = signed_in.post(PAGE, printed_keys(patient.person))
    page = response.content.decode()
    assert response.status_code == 409 and 'data-code="paper_certificate_card_registered"' in page
    assert patient.person.name not in page
    assert AccessEvent.objects.get(person=patient.person, basis="paper_certificate").outcome == "refused"


def test_keys_matching_nobody_say_so(signed_in, insurer):
    holder = paper_holder(insurer)
    response = signed_in.post(PAGE, printed_keys(holder) | {"branch": "09"})
    assert response.status_code == 404
    assert 'data-code="paper_certificate_no_match"' in response.content.decode()


def test_the_page_speaks_english_when_asked(signed_in, insurer):
    holder = paper_holder(insurer)
    signed_in.post("/i18n/setlang/", {"language": "en", "next": PAGE})
    page = signed_in.post(PAGE, printed_keys(holder)).content.decode()
    assert "Eligibility by the paper certificate" in page and "Checked by" in page
