"""The console's display of the registry's national element values: YYYYMMDD dates as dates, coded
values by the registry's labels (homeconsent/registry/labels.py, one home for them), event times in Japan time."""

import datetime

from django import template
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

from homeconsent.consent.labels import STAFF_ITEM_LABELS, STAFF_KIND_LABELS
from homeconsent.consent.rules import TOKYO
from homeconsent.registry.labels import label

register = template.Library()


@register.filter
def ymd(value):
    """ "20261126" -> date(2026, 11, 26), for the `date` filter; anything else as it came."""
    try:
        return datetime.datetime.strptime(str(value), "%Y%m%d").date()
    except (TypeError, ValueError):
        return value


@register.filter
def code_label(code, field):
    """{{ q.InsuredPartialContributionRatio|code_label:"contribution_ratio" }} -> 1割 (the code if unknown)."""
    return label(field, code)


def board_time_format() -> str:
    """The board's time format in the page's language, a Django date format the board's script also
    reads (data-time-format): 2026年11月26日 2:31 JST / 26 Nov 2026, 02:31 JST, like the site's dates."""
    return pgettext("console board time: a Django date format (Y n j G H i M only)", "j M Y, H:i")


@register.simple_tag
def board_time_pattern():
    return board_time_format()


@register.filter
def japan_time(value):
    """An ISO time (any zone) in Japan time with its zone, localised ("2026年11月26日 2:31 JST"), as the
    board's script writes it."""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return f"{date_format(value.astimezone(TOKYO), board_time_format())} JST"


# What staff read of a consent's state, in the page's language (the model's labels are Japanese only).
STATUS_LABELS = {
    "active": gettext_lazy("In force"),
    "superseded": gettext_lazy("Replaced by a newer consent"),
    "cancelled": pgettext_lazy("consent status", "Cancelled"),
    "expired": gettext_lazy("Expired"),
}
CANCELLED_BY = {
    "patient": gettext_lazy("Cancelled by the patient"),
    "institution": gettext_lazy("Cancelled by your institution"),
}


@register.filter
def consent_status(consent):
    """{{ c|consent_status }} -> 有効 / In force, 取消済み / Cancelled, … (expiry read, not stored)."""
    status = consent.effective_status()
    return STATUS_LABELS.get(status, status)


@register.filter
def cancelled_by(by):
    """{{ ending.by|cancelled_by }} -> 患者ご本人が取り消し / Cancelled by the patient."""
    return CANCELLED_BY.get(str(by), by)


@register.filter
def kind_label(kind):
    """A consent kind in the staff's words (consent/labels.py, one home for them); the code if unknown."""
    return STAFF_KIND_LABELS.get(str(kind), kind)


@register.filter
def item_label(item):
    """A consent item in the staff's words (consent/labels.py); the code if unknown."""
    return STAFF_ITEM_LABELS.get(str(item), item)


@register.simple_tag
def board_label_attributes():
    """The board's data-label-<kind> and data-label-item-<item> attributes, for the rows its script
    adds: the same labels as the rows drawn by the server."""
    kinds = ((f"data-label-{code}", label) for code, label in STAFF_KIND_LABELS.items())
    items = ((f"data-label-item-{code}", label) for code, label in STAFF_ITEM_LABELS.items())
    return format_html_join(" ", '{}="{}"', [*kinds, *items])


@register.filter
def japan_datetime(value):
    """An aware time as a localised date and time in Japan time, like the rest of the site's tables
    ("2026年11月26日 2時31分" / "26 Nov 2026, 02:31")."""
    if not isinstance(value, datetime.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return date_format(value.astimezone(TOKYO), "DATETIME_FORMAT")
