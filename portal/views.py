"""The patient portal's pages (Mynaportal-style self-view).

The card is used for three things, each a purpose of the proof step (homeconsent/consent/proof.py):
signing in, cancelling consents (the challenge binds the consent or "all"), and registering the card
for health-insurance use. The card step's script (static/js/portal-card.js) asks this server for the
challenge, gives its DigestInfo and the PIN to the local reader bridge, and posts back only
certificate and signature; on a phone, sign-in and cancelling go through the authentication app
(app_start / app_done). Registration is card-only.
"""

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from homeconsent import csp
from homeconsent.audit.models import Action, ActorType, Basis, Outcome
from homeconsent.authapp import identity
from homeconsent.authapp.relying_party import AppRefusal
from homeconsent.consent import app_views, proof
from homeconsent.consent.labels import ENDED_LABELS, ITEM_LABELS, KIND_LABELS
from homeconsent.consent.views import ITEM_ORDER
from homeconsent.dates import QueryDateError
from homeconsent.errors import HomeConsentError
from homeconsent.jpki.registration import REGISTRATION_RATE_LIMITED, do_register_card_for_insurance_use
from homeconsent.registry.models import MedicationSource, Person
from homeconsent.registry.validation import RegistryValidationError
from homeconsent.spreadsheet import csv_text

from . import services
from .charts import render_svg
from .checkup_ranges import GUIDANCE, REFERRAL, SOURCE
from .forms import (
    FILTER_YEAR_UNKNOWN,
    REGISTRATION_FIELDS,
    REGISTRATION_LABELS,
    AccessHistoryForm,
    ExpenseYearForm,
    LinkRemovalForm,
    MedicationFilterForm,
    RegistrationForm,
    first_error,
    first_refusal,
)
from .session import current_viewer, sign_in, sign_out, viewer_required

# The card actions, by URL segment: the proof's purpose, which the signature binds.
CARD_ACTIONS = {
    "signin": proof.Purpose.PORTAL_SIGNIN,
    "cancel": proof.Purpose.PORTAL_CANCEL,
    "register": proof.Purpose.CARD_REGISTRATION,
}
PENDING_CANCEL = "portal.cancel"
PENDING_REGISTRATION = "portal.registration"

BASIS_LABELS = {
    Basis.CONSENT: gettext_lazy("Your consent"),
    Basis.REQUERY: gettext_lazy("Re-query (再照会) under a home-visit consent"),
    Basis.DISASTER: gettext_lazy("Disaster viewing (災害時の閲覧)"),
    Basis.EMERGENCY: gettext_lazy("Emergency viewing (救急時の閲覧)"),
    Basis.OPERATOR: gettext_lazy("Service operator"),
    Basis.SELF: gettext_lazy("You yourself"),
    Basis.QUALIFICATION_ONLY: gettext_lazy("Eligibility check only"),
    Basis.PAPER_CERTIFICATE: gettext_lazy("Your paper eligibility certificate (資格確認書)"),
}
# Who read: "You" is the one label for the person themself, on the page and in the CSV.
ACTOR_LABELS = {
    ActorType.PATIENT: gettext_lazy("You"),
    ActorType.OPERATOR: gettext_lazy("Service operator"),
    ActorType.INSTITUTION_CLIENT: gettext_lazy("Institution's system"),
    ActorType.INSTITUTION_STAFF: gettext_lazy("Institution's staff"),
    ActorType.SYSTEM: gettext_lazy("System"),
}
OUTCOME_LABELS = {
    Outcome.OK: pgettext_lazy("access log", "Information shown"),
    Outcome.REFUSED: gettext_lazy("Refused"),
    Outcome.NOT_FOUND: gettext_lazy("Not found"),
}
SOURCE_LABELS = {
    MedicationSource.CLAIMS: gettext_lazy("Claims (レセプト)"),
    MedicationSource.E_PRESCRIPTION: gettext_lazy("E-prescription"),
    MedicationSource.DISPENSING: gettext_lazy("Dispensing result"),
}
# Consent procedures in the access log: shown as what happened to the consent, not as a read.
CONSENT_EVENT_LABELS = {
    Action.CONSENT_REGISTERED: pgettext_lazy("access log", "Consent registered"),
    Action.CONSENT_CANCELLED: pgettext_lazy("access log", "Consent cancelled"),
    Action.CONSENT_END_SET: pgettext_lazy("access log", "Consent end brought forward"),
}
# How the patient's card and PIN were proved (detail.route): the proof step's two authenticators.
ROUTE_LABELS = {
    "reader": pgettext_lazy("proof route", "Card reader (カードリーダー)"),
    "app": pgettext_lazy("proof route", "Authentication app (認証アプリ)"),
}
# What an access-log row records, when it is not a plain read (detail.action).
ACTION_LABELS = {
    Action.CONSENT_SESSION_CREATED: gettext_lazy("Consent requested"),
    Action.CHECK_ELIGIBILITY: gettext_lazy("Eligibility checked"),
    Action.PAPER_CERTIFICATE_CHECK: gettext_lazy("Eligibility checked with the numbers on your 資格確認書"),
    Action.REGISTER_FOR_INSURANCE_USE: gettext_lazy("Card registered as health insurance card"),
    Action.APP_LINK_CREATED: gettext_lazy("Authentication app linked to you"),
    Action.APP_LINK_REMOVED: gettext_lazy("Authentication app link removed"),
    Action.ADMIN_VIEW: gettext_lazy("Viewed by the service operator"),
    Action.ADMIN_LIST: gettext_lazy("Listed by the service operator"),
    Action.ADMIN_CHANGE: gettext_lazy("Personal details corrected by the service operator"),
    Action.IMPORT_CORRECTION: gettext_lazy("Insurance record corrected by your insurer"),
    Action.EMERGENCY_SEARCH: gettext_lazy("Found you in an emergency (救急時)"),
    Action.EMERGENCY_VIEW: gettext_lazy("Viewed in an emergency (救急時)"),
    Action.DISASTER_SEARCH: gettext_lazy("Found you in disaster mode (災害時)"),
    Action.DISASTER_VIEW: gettext_lazy("Viewed in disaster mode (災害時)"),
}
CHART_TITLES = {
    "bmi": gettext_lazy("BMI"),
    "blood_pressure": gettext_lazy("Blood pressure"),
    "hba1c": gettext_lazy("HbA1c"),
    "fbg": gettext_lazy("Fasting blood glucose"),
    "ldl": gettext_lazy("LDL cholesterol"),
    "hdl": gettext_lazy("HDL cholesterol"),
    "tg": gettext_lazy("Triglycerides"),
    "waist": gettext_lazy("Waist"),
}


# --- helpers -------------------------------------------------------------------------------------
def content_security_policy() -> str:
    return csp.policy(bridge=True, form_targets=proof.app_form_targets())


def _secure(response):
    response["Content-Security-Policy"] = content_security_policy()
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response


def page(request, template, context=None, status=200):
    context = {
        "viewer": getattr(request, "viewer", None),
        "idle_minutes": services.session_idle_minutes(),
        "item_labels": ITEM_LABELS,
        **(context or {}),
    }
    return _secure(render(request, template, context, status=status))


def _language():
    return (translation.get_language() or "ja")[:2]


def _label(mapping, key):
    return mapping.get(key, key)


def _items(items):
    """Labels in the consent pages' order (insurance first); other codes after, as recorded."""
    rank = {code: i for i, code in enumerate(ITEM_ORDER)}
    ordered = sorted(items, key=lambda item: rank.get(item, len(rank)))
    return [str(_label(ITEM_LABELS, item)) for item in ordered]


def _csv_response(filename, header, rows):
    # UTF-8 with a BOM: Excel in Japan opens it as UTF-8 instead of Shift_JIS.
    body = "\ufeff" + csv_text(header, rows)  # cells neutralised against formulas (homeconsent.spreadsheet)
    response = HttpResponse(body.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --- home, sign-in, sign-out, text size ------------------------------------------------------------
@never_cache
def home(request):
    viewer = current_viewer(request)
    if viewer is None:
        return redirect("portal:signin")
    request.viewer = viewer
    person = Person.objects.get(pk=viewer.person_id)
    return page(request, "portal/home.html", {"person": person})


@never_cache
def signin(request):
    if current_viewer(request) is not None:
        return redirect("portal:home")
    expired = request.session.pop("portal.expired", False)
    return page(request, "portal/signin.html", {"expired": expired, **_card_context("signin")})


@require_POST
def signout(request):
    sign_out(request)
    return page(request, "portal/signed_out.html")


# --- the card step (sign-in, cancel, registration) ---------------------------------------------------
def _card_context(action, **extra):
    app_route = proof.app_available() and CARD_ACTIONS[action] not in proof.CARD_ONLY
    return {
        "card_action": action,
        "app_start_url": reverse("portal:app_start", args=[action]) if app_route else "",
        "bridge_url": f"ws://{settings.READER_BRIDGE_HOST}:{settings.READER_BRIDGE_PORT}",
        "challenge_url": reverse("portal:card_challenge", args=[action]),
        "answer_url": reverse("portal:card_answer", args=[action]),
        **extra,
    }


def _json_problem(code, message="", status=400):
    return JsonResponse({"problem": code, "message": str(message)}, status=status)


def _slot(action):
    return f"portal.{action}"


@require_POST
def card_challenge(request, action):
    if action not in CARD_ACTIONS:
        raise Http404
    details = {}
    if action == "cancel":
        viewer = current_viewer(request)
        target = request.session.get(PENDING_CANCEL)
        if viewer is None or not target:
            return _json_problem("session_expired", _("Your session has ended. Please sign in again."))
        details["cancel"] = target
    elif action == "register" and not request.session.get(PENDING_REGISTRATION):
        return _json_problem("session_expired", _("Please enter your insurance details again."))
    try:
        return JsonResponse(proof.issue_for_page(request, _slot(action), CARD_ACTIONS[action], **details))
    except HomeConsentError as error:
        return proof.refusal(error, status=400)


@require_POST
def card_answer(request, action):
    if action not in CARD_ACTIONS:
        raise Http404
    handler = {"signin": _answer_signin, "cancel": _answer_cancel, "register": _answer_register}[action]
    try:
        return handler(request)
    except HomeConsentError as error:
        if error.code == proof.ANSWER_UNREADABLE.code:
            return proof.refusal(error, status=400)
        if error.code == proof.PROOF_ENDED.code:
            return _json_problem(error.code, _("This confirmation has ended. Please start again."))
        return proof.refusal(error)


def _signed_in(request, proved):
    """A proof for signing in, whichever authenticator gave it: start the portal session."""
    viewer = sign_in(request, proved)
    services.record_self_read(viewer, ["portal_login"], "signin", route=proved.authenticator)
    return reverse("portal:home")


def _answer_signin(request):
    # The challenge's use and the sign-in's access-log row commit together, once.
    with proof.acting_on_card_answer(
        request, _slot("signin"), proof.Purpose.PORTAL_SIGNIN, request.body
    ) as proved:
        next_url = _signed_in(request, proved)
    return JsonResponse({"next": next_url})


def _cancelled(request, proved):
    """A proof for cancelling: the consents the session's pending choice names. Returns the next URL."""
    viewer = current_viewer(request)
    target = request.session.get(PENDING_CANCEL)
    if viewer is None or not target:
        raise proof.PROOF_ENDED()
    cancelled = services.cancel_with_card(viewer, proved, target)
    request.session.pop(PENDING_CANCEL, None)
    request.session["portal.cancelled"] = [c.pk for c in cancelled]
    return reverse("portal:consents")


def _answer_cancel(request):
    target = request.session.get(PENDING_CANCEL)
    if current_viewer(request) is None or not target:
        return _json_problem("session_expired", _("Your session has ended. Please sign in again."))
    # The challenge's use and the cancellations commit together, once; a refused cancellation writes
    # nothing and still keeps the challenge used.
    with proof.acting_on_card_answer(
        request, _slot("cancel"), proof.Purpose.PORTAL_CANCEL, request.body, cancel=target
    ) as proved:
        next_url = _cancelled(request, proved)
    return JsonResponse({"next": next_url})


def _answer_register(request):
    keys = request.session.get(PENDING_REGISTRATION)
    if not keys:
        return _json_problem("session_expired", _("Please enter your insurance details again."))

    def register(message, certificate, signature):
        do_register_card_for_insurance_use(
            message,
            certificate,
            signature,
            insurer_number=keys["insurer_number"],
            symbol=keys["symbol"],
            number=keys["number"],
            branch=keys["branch"],
            birth_date=keys["birth_date"],
        )

    try:
        proof.answer_card_registration(request, _slot("register"), request.body, register)
    except RegistryValidationError:
        return _json_problem(
            "registration_identity_mismatch", _("Please check the insurance details you entered."), status=403
        )
    except HomeConsentError as error:
        if error.code != REGISTRATION_RATE_LIMITED.code:
            raise
        response = _json_problem(error.code, error.message(_language()), status=429)
        response["Retry-After"] = str(error.params["retry_after"])
        return response
    request.session.pop(PENDING_REGISTRATION, None)
    return JsonResponse({"next": reverse("portal:register_done")})


@require_POST
def app_start(request, action):
    """The app route of a portal card step (sign-in, cancellation; never card registration)."""
    if action not in CARD_ACTIONS:
        raise Http404
    back = reverse("portal:signin") if action == "signin" else reverse("portal:consents")
    details = {}
    if action == "cancel":
        target = request.session.get(PENDING_CANCEL)
        if current_viewer(request) is None or not target:
            return redirect("portal:signin")
        details["cancel"] = target
        back = reverse("portal:cancel", args=[target])
    try:
        url = proof.begin_with_app(
            request,
            _slot(action),
            CARD_ACTIONS[action],
            next_url=reverse("portal:app_done", args=[action]),
            back_url=back,
            **details,
        )
    except HomeConsentError as error:
        return app_views.app_problem(request, AppRefusal(error, back), status=400)
    except AppRefusal as refused:
        return app_views.app_problem(request, refused, status=502)
    return redirect(url)


@never_cache
def app_done(request, action):
    """Back from the authentication app: the same step as the card's answer."""
    if action not in ("signin", "cancel"):
        raise Http404
    back = reverse("portal:signin") if action == "signin" else reverse("portal:consents")
    try:
        if action == "signin":
            proved = proof.answer_with_app(request, _slot(action), proof.Purpose.PORTAL_SIGNIN)
            return redirect(_signed_in(request, proved))
        target = request.session.get(PENDING_CANCEL)
        proved = proof.answer_with_app(request, _slot(action), proof.Purpose.PORTAL_CANCEL, cancel=target)
        return redirect(_cancelled(request, proved))
    except HomeConsentError as error:
        return app_views.app_problem(request, AppRefusal(error, back))


# --- my records ----------------------------------------------------------------------------------------
@never_cache
@viewer_required
def qualifications(request):
    mine = services.my_qualifications(request.viewer)
    return page(
        request,
        "portal/qualifications.html",
        {"rows": mine.qualifications, "public_expense": mine.public_expense, "today": timezone.localdate()},
    )


@never_cache
@viewer_required
def medication(request):
    form = MedicationFilterForm(request.GET)
    form.is_valid()
    query, source = form.cleaned_data.get("q", ""), form.cleaned_data.get("source", "")
    found = services.my_medication(request.viewer, query, source)
    return page(
        request,
        "portal/medication.html",
        {
            "months": found.months,
            "current": found.current,
            "query": query,
            "source": source,
            "sources": SOURCE_LABELS,
            "count": sum(len(m.rows) for m in found.months),
            "searching": bool(query or source),
        },
    )


def _summary(chart):
    """A sentence per series: latest value, its date, and the change from the first value."""
    sentences = []
    for series in chart.series:
        first_day, first = series.points[0]
        last_day, last = series.points[-1]
        if len(series.points) == 1:
            sentences.append(
                _("%(item)s: %(value)s %(unit)s on %(date)s (one checkup).")
                % {"item": series.label, "value": last, "unit": chart.unit, "date": date_format(last_day)}
            )
            sentences.extend(_range_sentences(series, chart.unit))
            continue
        change = last - first
        if change > 0:
            direction = _("up %(delta)s") % {"delta": change}
        elif change < 0:
            direction = _("down %(delta)s") % {"delta": -change}
        else:
            direction = _("unchanged")
        sentences.append(
            _(
                "%(item)s: latest %(value)s %(unit)s on %(date)s; %(direction)s since %(first_date)s (%(first)s), "
                "over %(count)s checkups."
            )
            % {
                "item": series.label,
                "value": last,
                "unit": chart.unit,
                "date": date_format(last_day),
                "direction": direction,
                "first_date": date_format(first_day),
                "first": first,
                "count": len(series.points),
            }
        )
        sentences.extend(_range_sentences(series, chart.unit))
    return " ".join(sentences)


def _range_sentences(series, unit):
    """What the reference range says of the latest value, and how many results lay outside it."""
    reference = series.reference
    if reference is None:
        return []
    last = series.points[-1][1]
    flag = series.flag(last)
    limits = {"unit": unit, "guidance": reference.guidance, "referral": reference.referral}
    if flag == REFERRAL:
        text = (
            _(
                "The latest value is at or above the see-a-doctor value (受診勧奨判定値, %(referral)s %(unit)s)."
            )
            if reference.higher_is_worse
            else _(
                "The latest value is below the see-a-doctor value (受診勧奨判定値, under %(referral)s %(unit)s)."
            )
        )
    elif flag == GUIDANCE:
        text = (
            _(
                "The latest value is outside the reference range: at or above the guidance value "
                "(保健指導判定値, %(guidance)s %(unit)s)."
            )
            if reference.higher_is_worse
            else _(
                "The latest value is outside the reference range: below the guidance value "
                "(保健指導判定値, under %(guidance)s %(unit)s)."
            )
        )
    else:
        text = _("The latest value is within the reference range.")
    sentences = [text % limits]
    outside = sum(1 for _day, value in series.points if series.flag(value))
    if len(series.points) > 1 and outside:
        sentences.append(
            _("%(outside)s of %(count)s results were outside the reference range.")
            % {"outside": outside, "count": len(series.points)}
        )
    return sentences


@never_cache
@viewer_required
def checkups(request):
    checkups, charts = services.my_checkups(request.viewer)
    shown = []
    for index, chart in enumerate(charts):
        chart.title = str(CHART_TITLES.get(chart.key, chart.title))
        summary = _summary(chart)
        shown.append(
            {
                "chart": chart,
                "summary": summary,
                "svg": render_svg(
                    chart, title_id=f"chart-{index}-title", desc_id=f"chart-{index}-desc", description=summary
                ),
                "rows": chart.rows(),
            }
        )
    return page(
        request, "portal/checkups.html", {"checkups": checkups, "charts": shown, "reference_source": SOURCE}
    )


@never_cache
@viewer_required
def treatment(request):
    months = services.my_treatment(request.viewer)
    return page(request, "portal/treatment.html", {"months": months})


@never_cache
@viewer_required
def expenses(request):
    years = services.expense_years(request.viewer)
    form = ExpenseYearForm(request.GET, years)
    year = form.chosen_year()
    rows = services.my_expenses(request.viewer, year)
    return page(
        request,
        "portal/expenses.html",
        {
            "rows": rows,
            "years": years,
            "year": year,
            "total_cost": sum(r.total_cost for r in rows),
            "total_paid": sum(r.patient_paid for r in rows),
            "total_days": sum(r.days for r in rows),
            "form_error": first_error(form),
        },
        # a year with no notices is a fact shown on the page; a year that is no year is a bad request
        status=400 if form.errors and first_refusal(form).code != FILTER_YEAR_UNKNOWN.code else 200,
    )


EXPENSE_CSV_HEADER = [
    "診療年月",
    "医療機関等名称",
    "診療区分",
    "日数",
    "医療費の総額（円）",
    "窓口負担相当額（円）",
]


@viewer_required
def expenses_csv(request):
    years = services.expense_years(request.viewer)
    form = ExpenseYearForm(request.GET, years)
    if not form.is_valid() and first_refusal(form).code != FILTER_YEAR_UNKNOWN.code:
        raise QueryDateError(first_refusal(form))  # not a year at all, or out of range: the coded 400 page
    year = form.chosen_year()
    rows = services.my_expenses(request.viewer, year, export=True)
    return _csv_response(
        f"iryouhi-{year or 'all'}.csv",
        EXPENSE_CSV_HEADER,
        [
            [f"{r.month:%Y-%m}", r.institution_name, r.care_kind, r.days, r.total_cost, r.patient_paid]
            for r in rows
        ],
    )


# --- consents --------------------------------------------------------------------------------------------
def _ended_when(consent, now):
    """When an ended consent stopped: its last day if it ran out, else the moment it was ended."""
    ran_out = consent.ended_by == "expired" or (consent.ended_at is None and not consent.is_in_force(now))
    if ran_out and consent.available_until is not None:
        return date_format(consent.last_day)
    if consent.ended_at is None:
        return ""
    return date_format(timezone.localtime(consent.ended_at), "DATETIME_FORMAT")


def _consent_row(consent, now):
    return {
        "consent": consent,
        "kind": _label(KIND_LABELS, consent.kind),
        "items": _items(consent.items),
        "last_day": consent.last_day,
        "ended_when": _ended_when(consent, now),
        "ended": _label(
            ENDED_LABELS, consent.ended_by or ("expired" if not consent.is_in_force(now) else "")
        ),
    }


@never_cache
@viewer_required
def consents(request):
    now = timezone.now()
    in_force, ended = services.my_consents(request.viewer)
    cancelled_ids = request.session.pop("portal.cancelled", None)
    return page(
        request,
        "portal/consents.html",
        {
            "in_force": [_consent_row(c, now) for c in in_force],
            "ended": [_consent_row(c, now) for c in ended],
            "just_cancelled": cancelled_ids,
        },
    )


@never_cache
@viewer_required
def cancel(request, target):
    """Confirm what will be cancelled, then the card step proves it."""
    now = timezone.now()
    in_force, _ended = services.my_consents(request.viewer)
    if target == "all":
        rows = [_consent_row(c, now) for c in in_force]
        if not rows:
            return redirect("portal:consents")
    else:
        try:
            consent = services.consent_of(request.viewer, int(target))
        except (ValueError, HomeConsentError):
            raise Http404 from None
        if not consent.is_in_force(now):
            return redirect("portal:consents")
        rows = [_consent_row(consent, now)]
    request.session[PENDING_CANCEL] = "all" if target == "all" else str(consent.pk)
    return page(
        request, "portal/cancel.html", {"rows": rows, "all": target == "all", **_card_context("cancel")}
    )


# --- access history ----------------------------------------------------------------------------------------
def _history_form(request):
    form = AccessHistoryForm(request.GET)
    form.is_valid()  # a refused input is reported and left out; the others still filter
    return form


def _history_filter(form):
    return services.HistoryFilter(
        date_from=form.value("date_from"),
        date_to=form.value("date_to"),
        institution=form.value("institution", ""),
        basis=form.value("basis", ""),
        own_views=form.value("own", False),
    )


def _who(event, institution_name):
    """Who acted, as the patient should read it: themself, the institution's staff (the institution),
    the institution's system, or the operator. Not the institution for the patient's own steps."""
    name = institution_name or event.institution_code
    if event.actor_type == ActorType.INSTITUTION_STAFF and name:
        return name
    if event.actor_type == ActorType.INSTITUTION_CLIENT and name:
        return _("%(institution)s's system") % {"institution": name}
    return str(_label(ACTOR_LABELS, event.actor_type))


def _in_japanese(text):
    """Data that is always Japanese (institution names), marked so English pages read it correctly."""
    return format_html('<span lang="ja">{}</span>', text)


def _who_html(event, institution_name):
    """_who, with the institution's name marked as Japanese."""
    name = institution_name or event.institution_code
    if event.actor_type == ActorType.INSTITUTION_STAFF and name:
        return _in_japanese(name)
    if event.actor_type == ActorType.INSTITUTION_CLIENT and name:
        # Both parts escaped: the translated template here, the name inside _in_japanese.
        text = conditional_escape(_("%(institution)s's system")) % {"institution": _in_japanese(name)}
        return mark_safe(text)  # noqa: S308
    return str(_label(ACTOR_LABELS, event.actor_type))


def _access_row(row):
    """One access-log row in the patient's words: who, what, about which institution, basis, result."""
    event = row.event
    action = (event.detail or {}).get("action")
    consent_event = action in CONSENT_EVENT_LABELS
    by_institution = event.actor_type in (ActorType.INSTITUTION_STAFF, ActorType.INSTITUTION_CLIENT)
    looked = pgettext("access log", "Looked at your information")
    return {
        "row": row,
        "who": _who(event, row.institution_name),
        "code": event.institution_code if by_institution else "",
        # The institution a patient's or operator's step concerned (e.g. whose consent was cancelled).
        "about": "" if by_institution else (row.institution_name or event.institution_code),
        "who_html": _who_html(event, row.institution_name),
        "about_html": "" if by_institution else _in_japanese(row.institution_name or event.institution_code),
        "items": _items(event.items),
        "consent_event": consent_event,
        "action": str(CONSENT_EVENT_LABELS[action] if consent_event else ACTION_LABELS.get(action, looked)),
        # A consent procedure provides no data and rests on nothing but itself.
        "basis": "—" if consent_event else str(_label(BASIS_LABELS, event.basis)),
        "outcome": str(
            CONSENT_EVENT_LABELS[action] if consent_event else _label(OUTCOME_LABELS, event.outcome)
        ),
        "route": str(ROUTE_LABELS.get((event.detail or {}).get("route"), "")),
    }


@never_cache
@viewer_required
def access(request):
    form = _history_form(request)
    filters = _history_filter(form)
    check = services.verify_my_chain(request.viewer)
    rows, total, hidden_own = services.my_access_history(request.viewer, filters)
    shown = [_access_row(row) for row in rows]
    # The links keep the query as the patient wrote it (?from=, ?to=); the form's data is rewritten.
    toggle = request.GET.copy()
    if filters.own_views:
        toggle.pop("own", None)
    else:
        toggle["own"] = "1"
    return page(
        request,
        "portal/access.html",
        {
            "rows": [r for r in shown if not r["consent_event"]],
            "consent_rows": [r for r in shown if r["consent_event"]],
            "total": total,
            "filters": filters,
            "bases": BASIS_LABELS,
            "check": check,
            "check_error": None if check.ok else services.LOG_NOT_VERIFIED(),
            "hidden_own": hidden_own,
            "own_toggle": toggle.urlencode(),
            "institutions": services.institutions_in_history(request.viewer),
            "query": request.GET.urlencode(),
            "limit": services.HISTORY_PAGE_LIMIT,
            "form_error": first_error(form),
        },
        status=400 if form.errors else 200,
    )


ACCESS_CSV_HEADER = [
    "日時",
    "医療機関等コード",
    "医療機関等名称",
    "閲覧した者",
    "情報の種類",
    "根拠",
    "結果",
    "内容",
]


@viewer_required
def access_csv(request):
    form = _history_form(request)
    if form.errors:  # a file must not silently drop a filter: the coded 400 page instead
        raise QueryDateError(first_refusal(form))
    rows, _total, _hidden = services.my_access_history(request.viewer, _history_filter(form), export=True)
    # The CSV is in Japanese, with the page's labels (not the raw codes).
    with translation.override("ja"):
        lines = []
        for r in rows:
            shown = _access_row(r)
            lines.append(
                [
                    f"{r.local_time:%Y-%m-%d %H:%M:%S}",
                    r.event.institution_code,
                    r.institution_name,
                    shown["who"],
                    "、".join(shown["items"]),
                    shown["basis"],
                    shown["outcome"],
                    shown["action"],
                ]
            )
    return _csv_response("access-history.csv", ACCESS_CSV_HEADER, lines)


# --- authentication-app links ------------------------------------------------------------------------------
@never_cache
@viewer_required
@require_http_methods(["GET", "POST"])
def links(request):
    """The authentication apps linked to this person ((issuer, sub) -> person); the patient may remove one."""
    removed = False
    if request.method == "POST":
        link = LinkRemovalForm(request.POST).link_id()
        try:
            identity.do_remove_link(request.viewer.person_id, link or 0, actor_id=request.viewer.actor_id)
        except HomeConsentError:
            raise Http404 from None
        removed = True
    return page(
        request,
        "portal/links.html",
        {"links": identity.links_of(request.viewer.person_id), "removed": removed},
    )


# --- health-insurance-use registration -----------------------------------------------------------------------
@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    values = {**dict.fromkeys(REGISTRATION_FIELDS, ""), "branch": "00"}
    errors = {}
    if request.method == "POST":
        form = RegistrationForm(request.POST)
        if form.is_valid():
            request.session[PENDING_REGISTRATION] = form.values()
            return redirect("portal:register_card")
        values = form.typed()
        errors = {
            name: [{"code": e.code, "message": " ".join(e.messages)} for e in found]
            for name, found in form.errors.as_data().items()
        }
    error = first_error(form) if errors else None
    # The summary at the top names the fields to fix (each field says why, with its code).
    to_fix = [(name, REGISTRATION_LABELS[name]) for name in REGISTRATION_FIELDS if name in errors]
    return page(
        request,
        "portal/register.html",
        {"values": values, "error": error, "errors": errors, "to_fix": to_fix},
        status=400 if errors else 200,
    )


@never_cache
def register_card(request):
    if not request.session.get(PENDING_REGISTRATION):
        return redirect("portal:register")
    return page(request, "portal/register_card.html", _card_context("register"))


@never_cache
def register_done(request):
    return page(request, "portal/register_done.html")
