"""The console menu's 救急時 / 災害時 entries: shown only to staff who may use them."""

from django import template

from homeconsent.special_access.models import EncounterBasis

register = template.Library()


@register.simple_tag
def special_pages(staff) -> dict:
    from clinicapi.console.special_views import available

    if staff is None:
        return {}
    return {
        "emergency": available(staff, EncounterBasis.EMERGENCY),
        "disaster": available(staff, EncounterBasis.DISASTER),
    }
