"""The お知らせ (notices) page: a first read by an institution, an emergency view (救急時) and a
disaster view (災害時), shown on the next sign-in until the patient acknowledges them
(homeconsent.notices decides what is a notice; this module only shows them). The start page, where
every sign-in lands, lists the pending ones (templates/portal/_notices_banner.html)."""

from django.shortcuts import redirect
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from homeconsent.notices import services as notices
from homeconsent.notices.services import NoticeKind
from homeconsent.registry.models import Institution
from homeconsent.special_access.models import DisasterScope

from . import services
from .session import viewer_required
from .views import _items, page

HEADLINES = {
    NoticeKind.NEW_INSTITUTION: gettext_lazy("A new institution read your information"),
    NoticeKind.EMERGENCY: gettext_lazy("Your information was viewed in an emergency (救急時)"),
    NoticeKind.DISASTER: gettext_lazy("Your information was viewed in disaster mode (災害時)"),
}
REASONS = {
    "unconscious": gettext_lazy("Unconscious"),
    "shock": gettext_lazy("In shock"),
    "cardiac_arrest": gettext_lazy("Cardiac arrest"),
    "severe_trauma": gettext_lazy("Severe trauma"),
    "cannot_communicate": gettext_lazy("Cannot communicate"),
    "oral": gettext_lazy("The patient consented orally"),
    "cannot_express": gettext_lazy("Cannot express their wishes"),
    "other": gettext_lazy("Other"),
}


def notice_rows(found):
    codes = {n.event.institution_code for n in found}
    names = dict(Institution.objects.filter(code__in=codes).values_list("code", "name"))
    scopes = {n.event.detail.get("scope") for n in found if n.event.detail.get("scope")}
    scope_names = dict(DisasterScope.objects.filter(pk__in=scopes).values_list("pk", "name"))
    return [
        {
            "notice": n,
            "headline": HEADLINES[n.kind],
            "institution": names.get(n.event.institution_code, n.event.institution_code),
            "items": _items(n.event.items),
            "reason": REASONS.get(n.event.detail.get("reason"), ""),
            "reason_text": n.event.detail.get("reason_text", ""),
            "scope": scope_names.get(n.event.detail.get("scope"), ""),
        }
        for n in found
    ]


@never_cache
@require_http_methods(["GET", "POST"])
@viewer_required
def notice_list(request):
    viewer = request.viewer
    if request.method == "POST":
        notices.do_acknowledge(viewer.person_id, actor_id=viewer.actor_id)
        request.session["portal.notices_done"] = True
        return redirect("portal:notices")
    found = notices.notices_for(viewer.person_id)
    if found:  # the notices are access-log rows: showing them is a read of the patient's own log
        services.record_self_read(viewer, ["access_log"], "notices", count=len(found))
    return page(
        request,
        "portal/notices.html",
        {
            "rows": notice_rows(found),
            "pending": sum(1 for n in found if not n.acknowledged),
            "done": request.session.pop("portal.notices_done", False),
        },
    )
