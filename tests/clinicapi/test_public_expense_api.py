"""公費 certificates in the API's eligibility answers (GET …/eligibility?on=, POST /requery): listed
on the days they are valid, with their fields, under the qualification consent item."""

import datetime

import pytest

from clinicapi.patients import patient_id_for
from homeconsent.registry.codes import with_check_digit

pytestmark = pytest.mark.django_db


def laws(body):
    return [c["public_expense_law_number"] for c in body["public_expense_certificate_list"]]


def test_eligibility_lists_the_certificates_valid_on_the_date_asked(clinic_api, holder):
    patient, today = holder
    url = f"/api/v1/patients/{patient_id_for(clinic_api.institution.code, patient.person.pk)}/eligibility"
    day = datetime.timedelta(days=1)

    answers = {
        offset: clinic_api.get(url, on=(today + offset * day).isoformat()).json() for offset in (-1, 0, 1)
    }

    assert laws(answers[-1]) == ["12", "54"]  # by start
    assert laws(answers[0]) == ["12"]
    assert laws(answers[1]) == ["12", "21"]
    seishin = answers[1]["public_expense_certificate_list"][1]
    assert seishin == {
        "public_expense_law_number": "21",
        "public_expense_law_name": "自立支援医療 精神通院医療",
        "public_expense_payer_number": "21130018",
        "public_expense_recipient_number": with_check_digit("654321"),
        "public_expense_valid_start_date": (today + day).isoformat(),
        "public_expense_valid_end_date": (today + 365 * day).isoformat(),
        "public_expense_monthly_self_pay_limit": 5000,
        "public_expense_designated_institutions": ["0110113719", "0140110008"],
    }
    welfare = answers[0]["public_expense_certificate_list"][0]
    assert welfare["public_expense_recipient_number"] == "" and welfare["public_expense_valid_end_date"] == ""


def test_requery_lists_them_too(clinic_api, holder):
    patient, today = holder
    q = patient.person.qualifications.get()
    keys = {
        "insurer_number": q.insurer.number,
        "symbol": q.symbol,
        "number": q.number,
        "branch": q.branch,
        "birth_date": patient.person.birth_date.isoformat(),
    }
    response = clinic_api.post("/api/v1/requery", keys)
    assert response.status_code == 200 and laws(response.json()) == ["12"]
