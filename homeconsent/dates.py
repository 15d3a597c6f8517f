"""Calendar arithmetic shared by the registry, consents, the API and the portal."""

import datetime
import re

from django.core.exceptions import BadRequest

from homeconsent.errors import ErrorCode, HomeConsentError


def add_years(day: datetime.date, years: int) -> datetime.date:
    """The same day `years` later (earlier when negative); 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- dates, months and years given in a query (pages and the API) -----------------------------------
# One range for every date a person or a system may type: wide enough for any real record (the
# registry starts in 1900) and far enough from the calendar's ends that adding a month, a year or a
# time zone never overflows.
QUERY_MIN = datetime.date(1900, 1, 1)
QUERY_MAX = datetime.date(2999, 12, 31)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")

DATE_INVALID = ErrorCode(
    "date_invalid",
    "{name} の日付は YYYY-MM-DD の形で、実在する日を書いてください（例: 2025-04-01）。",
    "Write {name} as a real date in the form YYYY-MM-DD, for example 2025-04-01.",
)
MONTH_INVALID = ErrorCode(
    "month_invalid",
    "{name} の月は YYYY-MM の形で書いてください（例: 2025-04）。",
    "Write {name} as a month in the form YYYY-MM, for example 2025-04.",
)
YEAR_INVALID = ErrorCode(
    "year_invalid",
    "{name} の年は西暦4桁の数字で書いてください（例: 2025）。",
    "Write {name} as a four-digit year, for example 2025.",
)
DATE_OUT_OF_RANGE = ErrorCode(
    "date_out_of_range",
    "{name} は {min} から {max} までの間で指定してください（{value} は範囲外です）。",
    "{name} must be between {min} and {max} ({value} is outside that range).",
)


class QueryDateError(BadRequest):
    """A page's date, month or year parameter that cannot be answered: a 400 page with its code
    (homeconsent.views.bad_request shows `error`)."""

    def __init__(self, error: HomeConsentError):
        super().__init__(str(error))
        self.error = error


def _out_of_range(name: str, value: str, low: str, high: str) -> HomeConsentError:
    return DATE_OUT_OF_RANGE(name=name, value=value, min=low, max=high)


def query_date(value: str, name: str) -> datetime.date:
    """YYYY-MM-DD within QUERY_MIN..QUERY_MAX, else a HomeConsentError saying which and why."""
    if not _DATE.match(value):
        raise DATE_INVALID(name=name)
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise DATE_INVALID(name=name) from None
    if not QUERY_MIN <= day <= QUERY_MAX:
        raise _out_of_range(name, value, QUERY_MIN.isoformat(), QUERY_MAX.isoformat())
    return day


def query_month(value: str, name: str) -> datetime.date:
    """YYYY-MM within the same range, as the first day of that month."""
    if not _MONTH.match(value):
        raise MONTH_INVALID(name=name)
    first = datetime.date(int(value[:4]), int(value[5:]), 1) if value[:4] != "0000" else None
    if first is None or not QUERY_MIN <= first <= QUERY_MAX:
        raise _out_of_range(name, value, f"{QUERY_MIN:%Y-%m}", f"{QUERY_MAX:%Y-%m}")
    return first


def query_year(value: str, name: str) -> int:
    """A four-digit year within the same range."""
    text = value.strip()
    if not re.fullmatch(r"-?[0-9]+", text):
        raise YEAR_INVALID(name=name)
    # Length first: a year of thousands of digits is out of range without being converted.
    if len(text) > 4 or not QUERY_MIN.year <= int(text) <= QUERY_MAX.year:
        shown = text if len(text) <= 12 else text[:12] + "…"
        raise _out_of_range(name, shown, str(QUERY_MIN.year), str(QUERY_MAX.year))
    return int(text)
