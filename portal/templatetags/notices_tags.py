"""The start page's line about pending notices (お知らせ)."""

from django import template

from homeconsent.notices.services import pending_count

register = template.Library()


@register.simple_tag
def pending_notices(viewer) -> int:
    return pending_count(viewer.person_id) if viewer is not None else 0
