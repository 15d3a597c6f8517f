from django import template
from django.utils.formats import date_format
from django.utils.translation import pgettext

from homeconsent.registry.labels import checkup_name, label
from homeconsent.registry.reference_data import CHECKUP_ITEMS

register = template.Library()


@register.filter
def yen(value):
    """12345 -> "12,345" (amounts in yen, grouped by thousands in both languages)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.filter
def registry_label(record, field):
    """{{ q|registry_label:"personal_family" }}: the translated label of a coded registry field."""
    return label(field, getattr(record, field, ""))


@register.simple_tag
def listing(items):
    """Items joined with the language's list separator (「、」 in Japanese, ", " in English)."""
    return pgettext("list separator", ", ").join(str(item) for item in items)


@register.simple_tag
def date_range(start, end=None):
    """Two dates in the language's format joined the language's way (2026年8月1日～2027年7月31日,
    1 Aug 2026 – 31 Jul 2027); an open end leaves the range open."""
    return pgettext("date range", "%(start)s – %(end)s") % {
        "start": date_format(start) if start else "",
        "end": date_format(end) if end else "",
    }


_CHECKUP_BY_CODE = {item.code: item for item in CHECKUP_ITEMS}


@register.filter
def checkup_item_name(result):
    """A checkup result's item name as the portal shows it (上の血圧（収縮期）, not 収縮期血圧（その他）)."""
    item = _CHECKUP_BY_CODE.get(result.item_code)
    return checkup_name(item) if item is not None else result.item_name
