"""The start page's pending notices (お知らせ): every sign-in lands there, so they are shown at each
sign-in until acknowledged."""

from django import template

from homeconsent.notices.services import notices_for, pending_count

register = template.Library()
SHOWN = 5


@register.simple_tag
def pending_notices(viewer) -> dict:
    from portal.notices import notice_rows

    if viewer is None:
        return {"count": 0, "rows": []}
    count = pending_count(viewer.person_id)
    rows = notice_rows(notices_for(viewer.person_id, pending_only=True, limit=SHOWN)) if count else []
    return {"count": count, "rows": rows}
