from django import template
from django.utils.translation import pgettext

from portal.labels import label

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
