"""Dates and months out of range never give a 500 in the API: every date and month parameter of every
endpoint answers 400 input_invalid with the parameter's code, or the data (issue 13, item 3).
Property-based over generated values."""

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.portal.test_date_bounds import dates, expected, junk

from .conftest import register_consent

LOW, HIGH = datetime.date(1900, 1, 1), datetime.date(2999, 12, 31)
PARAMETERS = [  # (method, path, parameter, kind); {p} is the patient id
    ("get", "/api/v1/patients", "consented_from", "date"),
    ("get", "/api/v1/patients", "consented_to", "date"),
    ("get", "/api/v1/patients", "visit_from", "date"),
    ("get", "/api/v1/patients", "visit_to", "date"),
    ("get", "/api/v1/fhir/patients", "consented_to", "date"),
    ("get", "/api/v1/patients/{p}/eligibility", "on", "on"),
    ("get", "/api/v1/fhir/patients/{p}/eligibility", "on", "on"),
    ("get", "/api/v1/patients/{p}/medication", "month_from", "month"),
    ("get", "/api/v1/patients/{p}/medication", "month_to", "month"),
    ("get", "/api/v1/patients/{p}/treatment", "date_from", "date"),
    ("get", "/api/v1/patients/{p}/treatment", "date_to", "date"),
    ("get", "/api/v1/patients/{p}/checkups", "date_from", "date"),
    ("get", "/api/v1/patients/{p}/checkups", "date_to", "date"),
    ("post", "/api/v1/requery", "on", "on"),
    ("post", "/api/v1/batches", "on", "on"),
]
months = st.one_of(
    st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31)).map(
        lambda d: f"{d:%Y-%m}"
    ),
    st.sampled_from(["0000-01", "9999-12", "2025-13", "2025-1", "", "abcd-ef"]),
)


def expected_month(value):
    if (
        len(value) != 7
        or not value[:4].isascii()
        or not value[:4].isdigit()
        or value[4] != "-"
        or value[5:] not in {f"{m:02d}" for m in range(1, 13)}
    ):
        return "month_invalid"
    return None if LOW.year <= int(value[:4]) <= HIGH.year else "date_out_of_range"


@pytest.fixture
def patient_id(clinic_api, make_patient, clinic):
    register_consent(make_patient(), clinic, items=("medication", "treatment", "checkup"))
    return clinic_api.get("/api/v1/patients").json()["patients"][0]["patient_id"]


def codes_of(response, name) -> list[str]:
    """The codes of the problems with `name`: in details (JSON) or the OperationOutcome's issues (FHIR)."""
    body = response.json()
    if "details" in body:
        return [problem["code"] for problem in body["details"].get(name, [])]
    return [
        issue["details"]["coding"][0]["code"] for issue in body["issue"] if issue.get("expression") == [name]
    ]


def call(api, method, path, name, value):
    if method == "get":
        return api.get(path, **{name: value})
    keys = {
        "insurer_number": "01130012",
        "symbol": "1234",
        "number": "5678",
        "branch": "00",
        "birth_date": "1950-04-02",
    }
    body = {**keys, name: value} if path.endswith("requery") else {"entries": [keys], name: value}
    return api.post(path, body)


@pytest.mark.parametrize(
    "path,name,value",
    [
        ("/api/v1/patients", "consented_from", "0001-01-01"),
        ("/api/v1/patients", "consented_to", "9999-12-31"),
        ("/api/v1/patients/{p}/medication", "month_to", "9999-12"),
    ],
)
def test_the_issues_values_answer_400_with_a_code(clinic_api, patient_id, path, name, value):
    response = clinic_api.get(path.format(p=patient_id), **{name: value})
    assert response.status_code == 400
    assert response.json()["details"][name][0]["code"] == "date_out_of_range"


@settings(max_examples=90, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(PARAMETERS), data=st.data())
def test_every_date_and_month_parameter_answers_the_data_or_a_coded_400(clinic_api, patient_id, where, data):
    method, path, name, kind = where
    value = data.draw(months if kind == "month" else st.one_of(dates, junk, st.just("")), label=name)
    # when the endpoint is called with that value
    clinic_api.http.raise_request_exception = False
    response = call(clinic_api, method, path.format(p=patient_id), name, value)
    # then it answers, or refuses with 400 naming the parameter and why; never a server error
    assert response.status_code in (200, 201, 400), (path, name, value, response.status_code)
    if value == "":
        code = "value_empty"
    elif kind == "month":
        code = expected_month(value)
    else:
        code = expected("date", value)
    if kind == "on" and code is None:
        return  # the reference date has its own narrower rule (not after a year from today): 200 or 400
    if code is None and response.status_code == 400:
        # a value in range may still come after the other end's default (month_to: this month)
        assert response.json()["code"] == "range_reversed" or "range_reversed" in str(response.json()), value
    elif code is None:
        assert response.status_code < 300, (path, name, value, response.content[:300])
    else:
        assert response.status_code == 400, (path, name, value)
        assert codes_of(response, name) == [code], (path, name, value, response.json())
