from django import template

register = template.Library()


@register.filter
def yen(value):
    """12345 -> "12,345" (amounts in yen, grouped by thousands in both languages)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value

