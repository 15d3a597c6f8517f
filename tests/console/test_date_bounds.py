"""Dates out of range never give a 500 on the console: its date parameters answer 400 with a code, or
the page (issue 13, item 3). Property-based over generated values."""

import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.portal.test_date_bounds import dates, expected, junk

PARAMETERS = ["given_from", "given_to", "visit_from", "visit_to"]


def test_the_issues_dates_answer_400_with_a_code(signed_in):
    for value in ("0001-01-01", "9999-12-31"):
        response = signed_in.get("/console/patients/", {"given_from": value, "visit_to": value})
        assert response.status_code == 400 and b'data-code="date_out_of_range"' in response.content


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(PARAMETERS), value=st.one_of(dates, junk))
def test_every_date_parameter_of_the_patient_list_answers_the_page_or_a_coded_400(signed_in, name, value):
    signed_in.raise_request_exception = False
    response = signed_in.get("/console/patients/", {name: value})
    code = expected("date", value)
    if code is None:
        assert response.status_code == 200, (name, value, response.status_code)
    else:
        assert response.status_code == 400 and f'data-code="{code}"'.encode() in response.content, (
            name,
            value,
        )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    day=st.dates(min_value=datetime.date(1, 1, 2), max_value=datetime.date(9999, 12, 30)),
    zone=st.sampled_from(["", "Z", "+09:00", "-12:00", "+14:00"]),
)
def test_the_boards_catch_up_answers_events_or_a_coded_400(signed_in, day, zone):
    signed_in.raise_request_exception = False
    response = signed_in.get("/console/events.json", {"since": f"{day.isoformat()}T00:00:00{zone}"})
    if datetime.date(1900, 1, 1) <= day <= datetime.date(2999, 12, 31):
        assert response.status_code == 200, (day, zone, response.content[:300])
    else:
        assert response.status_code == 400 and response.json()["code"] == "console_events_since_invalid", (
            day,
            zone,
        )
