"""The console's 救急時閲覧 (emergency viewing) and 災害時閲覧 (disaster mode) pages, the admin's
grant of the emergency permission, and the admin's report of the staff's emergency views.

Decisions live in homeconsent.special_access.services; views parse, call and render. A page that is
not available to this staff member (no permission, not a hospital, a qualification-only site) is
the console's plain "not found", as for any unknown address.
"""

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from homeconsent import csp
from homeconsent.accounts.models import StaffMembership
from homeconsent.audit.models import Action
from homeconsent.consent.labels import SPECIAL_ITEM_LABELS
from homeconsent.errors import HomeConsentError
from homeconsent.special_access import services
from homeconsent.special_access.models import DisasterConsent, EmergencyReason, EncounterBasis, SearchMethod

from .special_forms import PermissionForm, SpecialItemForm, SpecialSearchForm
from .views import _error, page, staff_required

REASON_LABELS = {
    EmergencyReason.UNCONSCIOUS: _("Unconscious"),
    EmergencyReason.SHOCK: _("In shock"),
    EmergencyReason.CARDIAC_ARREST: _("Cardiac arrest"),
    EmergencyReason.SEVERE_TRAUMA: _("Severe trauma"),
    EmergencyReason.CANNOT_COMMUNICATE: _("Cannot communicate"),
    EmergencyReason.OTHER: _("Other (describe)"),
}
CONSENT_LABELS = {
    DisasterConsent.ORAL: _("The patient consented orally"),
    DisasterConsent.UNCONSCIOUS: _("Unconscious: consent cannot be given"),
    DisasterConsent.CANNOT_EXPRESS: _("Cannot express their wishes"),
    DisasterConsent.OTHER: _("Other (describe)"),
}
METHOD_LABELS = {
    SearchMethod.CARD: _("My Number card (no PIN)"),
    SearchMethod.ATTRIBUTES: _("Name, birth date, sex and address"),
    SearchMethod.INSURER_KEYS: _("Insurer number and card numbers"),
}
ITEM_LABELS = SPECIAL_ITEM_LABELS  # what a viewing shows, named in consent/labels.py
PAGES = {
    EncounterBasis.EMERGENCY: {
        "title": _("Emergency viewing (救急時)"),
        "nav": "emergency",
        "search": "console:emergency",
        "view": "console:emergency_view",
    },
    EncounterBasis.DISASTER: {
        "title": _("Disaster mode (災害時)"),
        "nav": "disaster",
        "search": "console:disaster",
        "view": "console:disaster_view",
    },
}


def _viewer(request) -> services.Viewer:
    return services.Viewer.staff(request.staff)


def available(staff, basis) -> bool:
    """Whether this staff member is offered the page at all (the services check again on each read)."""
    if basis == EncounterBasis.EMERGENCY:
        return services.has_emergency_permission(services.Viewer.staff(staff))
    return not staff.institution.qualification_only


def _special_page(request, template, context, status=200):
    response = page(request, template, context, status=status)
    # The card method reads the certificate through the local bridge (its port read per request).
    response["Content-Security-Policy"] = csp.policy(bridge=True)
    return response


def _reasons(basis):
    labels = REASON_LABELS if basis == EncounterBasis.EMERGENCY else CONSENT_LABELS
    return [(value, labels[value]) for value in labels]


def _search(request, basis):
    staff = request.staff
    if request.method != "POST" and not available(staff, basis):
        raise Http404  # a POST goes on: the services refuse it and log the attempt
    error, status = None, 200
    form = SpecialSearchForm(request.POST if request.method == "POST" else None, basis=basis)
    if request.method == "POST":
        try:
            data = form.checked()
            encounter = services.do_search(
                _viewer(request), basis, data["search"], data["reason"], data["reason_text"]
            )
        except HomeConsentError as exc:
            if exc.code == services.NOT_AVAILABLE.code:
                raise Http404 from None
            error = _error(exc)
            status = 429 if exc.code == services.RATE_LIMITED.code else 400
        else:
            return redirect(PAGES[basis]["view"], token=encounter.token)
    context = {
        "staff": staff,
        "basis": basis,
        "page": PAGES[basis],
        "nav": PAGES[basis]["nav"],
        "error": error,
        "form": form.data if error else {},
        "reasons": _reasons(basis),
        "methods": list(METHOD_LABELS.items()),
        "method": form.data.get("method", SearchMethod.ATTRIBUTES) if error else SearchMethod.ATTRIBUTES,
        "scopes": services.scopes_in_force() if basis == EncounterBasis.DISASTER else None,
        "bridge_url": f"ws://{settings.READER_BRIDGE_HOST}:{settings.READER_BRIDGE_PORT}",
        "items": [ITEM_LABELS[i] for i in services.ITEMS[basis]],
    }
    response = _special_page(request, "console/special_search.html", context, status=status)
    if status == 429:
        response["Retry-After"] = str(settings.SPECIAL_ACCESS_SEARCH_WINDOW.seconds or 60)
    return response


def _view(request, basis, token):
    staff = request.staff
    if not available(staff, basis):
        raise Http404
    item = SpecialItemForm(request.GET).item_or_none()
    try:
        shown = services.view(_viewer(request), basis, token, item)
    except HomeConsentError as exc:
        context = {"staff": staff, "page": PAGES[basis], "nav": PAGES[basis]["nav"], "error": _error(exc)}
        return page(request, "console/special_ended.html", context, status=404)
    context = {
        "staff": staff,
        "basis": basis,
        "page": PAGES[basis],
        "nav": PAGES[basis]["nav"],
        "view": shown,
        "encounter": shown.encounter,
        "person": shown.person,
        "item": item,
        "elig": shown.eligibility.as_dict() if shown.eligibility else None,
        "details": [(i, ITEM_LABELS[i]) for i in services.ITEMS[basis] if i != "qualification"],
        "reason_label": dict(_reasons(basis)).get(shown.encounter.reason, shown.encounter.reason),
        "method_label": METHOD_LABELS.get(shown.encounter.method, ""),
    }
    return page(request, "console/special_view.html", context)


@require_http_methods(["GET", "POST"])
@staff_required
def emergency(request):
    return _search(request, EncounterBasis.EMERGENCY)


@staff_required
def emergency_view(request, token):
    return _view(request, EncounterBasis.EMERGENCY, token)


@require_http_methods(["GET", "POST"])
@staff_required
def disaster(request):
    return _search(request, EncounterBasis.DISASTER)


@staff_required
def disaster_view(request, token):
    return _view(request, EncounterBasis.DISASTER, token)


# --- the admin: who may use emergency viewing, and what they viewed ------------------------------------
@require_http_methods(["GET", "POST"])
@staff_required(admin=True)
def emergency_staff(request):
    staff = request.staff
    error = None
    if request.method == "POST":
        form = PermissionForm(request.POST)
        member = form.member(staff.institution)
        if member is None:
            raise Http404
        try:
            if form.revoke():
                services.do_revoke_emergency_permission(member, by=staff)
            else:
                services.do_grant_emergency_permission(member, by=staff)
        except HomeConsentError as exc:
            error = _error(exc)
        else:
            return redirect("console:emergency_staff")
    permitted = services.permitted_user_ids(staff.institution)
    members = (
        StaffMembership.objects.filter(institution=staff.institution)
        .select_related("user")
        .order_by("user__username")
    )
    return page(
        request,
        "console/special_staff.html",
        {
            "staff": staff,
            "nav": "emergency_staff",
            "error": error,
            "hospital": services.is_hospital(staff.institution),
            "rows": [{"member": m, "permitted": m.user_id in permitted} for m in members],
        },
        status=400 if error else 200,
    )


@staff_required(admin=True)
def emergency_report(request):
    staff = request.staff
    rows = services.emergency_report(staff.institution)
    labels = dict(_reasons(EncounterBasis.EMERGENCY))
    return page(
        request,
        "console/special_report.html",
        {
            "staff": staff,
            "nav": "emergency_report",
            "rows": [
                {
                    "event": e,
                    "reason": labels.get(e.detail.get("reason"), e.detail.get("reason", "")),
                    "method": METHOD_LABELS.get(e.detail.get("method"), ""),
                    "items": [ITEM_LABELS.get(i, i) for i in e.items if i in ITEM_LABELS],
                    "search": e.detail.get("action") == Action.EMERGENCY_SEARCH,
                }
                for e in rows
            ],
            "search_url": reverse("console:emergency"),
        },
    )
