"""One five-year limit on a consent's end date (rules.consent_until), whoever sets it: the patient
on the consent pages or the institution afterwards."""

import datetime

import pytest

from homeconsent.consent import rules
from homeconsent.errors import HomeConsentError

NOW = datetime.datetime(2026, 2, 28, 3, 0, tzinfo=datetime.UTC)  # 2026-02-28 12:00 in Tokyo


def test_an_end_up_to_five_years_ahead_holds_through_that_day():
    until = rules.consent_until("home_visit", available_until=datetime.date(2031, 2, 28), now=NOW)

    assert until == rules.start_of_day(datetime.date(2031, 3, 1))


@pytest.mark.parametrize(
    "end",
    [datetime.date(2031, 3, 1), "2040-01-01", datetime.datetime(2031, 3, 1, 0, 0, 1, tzinfo=rules.TOKYO)],
)
def test_an_end_past_five_years_is_refused_naming_the_latest_day(end):
    with pytest.raises(HomeConsentError) as caught:
        rules.consent_until("home_visit", available_until=end, now=NOW)

    assert caught.value.code == "available_until_too_far"
    assert "2031年2月28日" in caught.value.message("ja") and "28 Feb 2031" in caught.value.message("en")


def test_the_latest_day_from_29_february_is_28_february():
    assert rules.latest_end_date(datetime.date(2028, 2, 29)) == datetime.date(2033, 2, 28)
