"""The console's display of the registry's national element values: YYYYMMDD dates as dates, coded
values by the registry's labels (homeconsent/registry/labels.py, one home for them), event times in Japan time."""

import datetime

from django import template

from homeconsent.consent.rules import TOKYO
from homeconsent.registry.labels import label

register = template.Library()


@register.filter
def ymd(value):
    """"20261126" -> date(2026, 11, 26), for the `date` filter; anything else as it came."""
    try:
        return datetime.datetime.strptime(str(value), "%Y%m%d").date()
    except (TypeError, ValueError):
        return value


@register.filter
def code_label(code, field):
    """{{ q.InsuredPartialContributionRatio|code_label:"contribution_ratio" }} -> 1割 (the code if unknown)."""
    return label(field, code)


@register.filter
def japan_time(value):
    """An ISO time (any zone) as "2026-11-26 02:31 JST", like the board's script writes it."""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return f"{value.astimezone(TOKYO):%Y-%m-%d %H:%M} JST"
