"""Dates and years out of range never give a 500: every date and year parameter of the portal's pages
answers 400 with a code, or the page (issue 13, item 3). Property-based over generated values."""

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PARAMETERS = [  # (page, parameter, kind)
    ("/portal/access/", "from", "date"),
    ("/portal/access/", "to", "date"),
    ("/portal/access.csv", "from", "date"),
    ("/portal/access.csv", "to", "date"),
    ("/portal/expenses/", "year", "year"),
    ("/portal/expenses.csv", "year", "year"),
]
LOW, HIGH = datetime.date(1900, 1, 1), datetime.date(2999, 12, 31)

dates = st.dates(min_value=datetime.date(1, 1, 1), max_value=datetime.date(9999, 12, 31)).map(
    datetime.date.isoformat
)
years = st.one_of(st.integers(-(10**40), 10**40), st.integers(1800, 3100)).map(str)
junk = st.sampled_from(
    ["2025-02-30", "2025-13-01", "20250101", "２０２５-０１-０１", "-1", "0", "1e4", "abc"]
)


def expected(kind, value):
    """None: the page answers; else the code of the 400."""
    if kind == "year":
        if not value.lstrip("-").isdigit():
            return "year_invalid"
        return None if LOW.year <= int(value) <= HIGH.year else "date_out_of_range"
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        return "date_invalid"
    if len(value) != 10 or not value.isascii():
        return "date_invalid"
    return None if LOW <= day <= HIGH else "date_out_of_range"


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_the_issues_dates_answer_400_with_a_code(signed_in, value):
    response = signed_in.get("/portal/access/", {"from": value, "to": value})
    assert response.status_code == 400 and b'data-code="date_out_of_range"' in response.content


@pytest.mark.parametrize("value", ["-1", "10000", "9" * 400])
def test_the_issues_years_answer_400_with_a_code(signed_in, value):
    response = signed_in.get("/portal/expenses/", {"year": value})
    assert response.status_code == 400 and b'data-code="' in response.content


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(PARAMETERS), data=st.data())
def test_every_date_and_year_parameter_answers_the_page_or_a_coded_400(signed_in, where, data):
    page, name, kind = where
    value = data.draw(st.one_of(dates if kind == "date" else years, junk), label=name)
    # when the page is asked with that value
    signed_in.raise_request_exception = False
    response = signed_in.get(page, {name: value})
    # then it answers (200) or refuses with 400 and the code that says why, never a server error
    code = expected(kind, value)
    if code is None:
        assert response.status_code == 200, (page, name, value, response.status_code)
    else:
        assert response.status_code == 400, (page, name, value, response.status_code)
        assert f'data-code="{code}"'.encode() in response.content, (page, name, value)
