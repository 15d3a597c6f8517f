"""Months of the access log: partitions, seals and retention all count in months of Japan time
(settings.TIME_ZONE), the months the usage statistics and the portal show."""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from homeconsent.dates import add_years


def month_of(moment: datetime.datetime) -> datetime.date:
    """The first day of the month `moment` falls in."""
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE)).date().replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)


def start_of(month: datetime.date) -> datetime.datetime:
    """The first moment of the month (aware, in Japan time)."""
    return datetime.datetime.combine(month.replace(day=1), datetime.time(), ZoneInfo(settings.TIME_ZONE))


def months_from(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def label(month: datetime.date) -> str:
    return f"{month:%Y-%m}"


def expired(month: datetime.date, now: datetime.datetime | None = None) -> bool:
    """Whether the retention period of a month of the log is over: it ended at least
    AUDIT_RETENTION_YEARS full years ago."""
    now = now or timezone.now()
    return start_of(add_years(next_month(month), settings.AUDIT_RETENTION_YEARS)) <= now


def ended(month: datetime.date, now: datetime.datetime | None = None) -> bool:
    return start_of(next_month(month)) <= (now or timezone.now())
