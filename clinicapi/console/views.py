"""The institution console's pages: sign-in and enrolment, the live board, the entry URL card,
consented patients, API clients and staff. Decisions live in accounts.py and reads.py (and the
services they call); views only parse, call and render.

Every page but sign-in and enrolment needs a signed-in, OTP-verified, current, non-idle staff
session (staff_required); admin-only actions check the role. No inline script or style (CSP).
"""

import datetime
import functools

from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinicapi.auth import do_register_client, do_revoke_client
from clinicapi.models import ApiClient
from clinicapi.scopes import DEFAULT_SCOPES, MEDICAL_SCOPES, SCOPES
from homeconsent import csp
from homeconsent.accounts import services as accounts
from homeconsent.accounts.models import StaffMembership, StaffRole
from homeconsent.audit.models import ActorType
from homeconsent.consent import rules
from homeconsent.consent.challenges import client_ip
from homeconsent.consent.entry import do_rotate_entry_token, entry_for, entry_qr_svg, entry_url
from homeconsent.consent.models import ConsentKind
from homeconsent.errors import HomeConsentError
from homeconsent.registry import paper_certificate as paper

from . import actions, forms, reads
from .routing import SOCKET_PATH

CSP = csp.policy()  # the board's socket is same-origin: no bridge


def page(request, template, context=None, status=200):
    response = render(request, template, context or {}, status=status)
    response["Content-Security-Policy"] = CSP
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response


CONFIRM_REQUIRED = forms.CONFIRM_REQUIRED


def _posted(request):
    """The POST data to bind a page's form to (an empty POST too), or None to leave it unbound."""
    return request.POST if request.method == "POST" else None


def _forbidden(request, staff):
    return page(
        request,
        "console/forbidden.html",
        {"staff": staff, "error": _error(accounts.ADMIN_ONLY())},
        status=403,
    )


def _enrol_invalid(request):
    return page(
        request,
        "console/enrol_invalid.html",
        {"error": _error(accounts.ENROLMENT_LINK_INVALID())},
        status=404,
    )


def _signin_redirect(request):
    return redirect("console:signin")


def staff_required(view=None, *, admin=False):
    """Pages of a signed-in, OTP-verified staff member; an idle or signed-out-everywhere session
    is ended here and the sign-in page says why."""

    def decorate(view):
        @functools.wraps(view)
        @never_cache
        def wrapped(request, *args, **kwargs):
            user = request.user
            staff = None
            if user.is_authenticated and user.is_verified():
                staff = accounts.staff_for(user, request.session)
            if staff is None:
                ended = request.session.get("console.ended")
                if user.is_authenticated:
                    accounts.sign_out(request)
                if ended:
                    request.session["console.ended"] = ended
                if request.path.endswith(".json"):
                    return JsonResponse({"code": "console_signed_out"}, status=401)
                return _signin_redirect(request)
            if admin and not staff.is_admin:
                return _forbidden(request, staff)
            request.staff = staff
            return view(request, *args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate


def _error(exc: HomeConsentError, fields=()) -> dict:
    """What the error paragraph shows; `fields` are the inputs it is about (the first gets focus)."""
    return {"code": exc.code, "message": exc.message(), "fields": tuple(fields)}


# Which inputs a sign-in or enrolment refusal is about; lockouts and rate limits are about none.
_FIELD_ERRORS = {
    accounts.SIGNIN_FAILED.code: ("password", "username", "code"),
    accounts.ENROLMENT_PASSWORDS_DIFFER.code: ("password", "password_again"),
    accounts.ENROLMENT_PASSWORD_WEAK.code: ("password", "password_again"),
    accounts.ENROLMENT_CODE_WRONG.code: ("code",),
}


def _field_error(exc: HomeConsentError, present) -> dict:
    return _error(exc, [f for f in _FIELD_ERRORS.get(exc.code, ()) if f in present])


# --- signing in ------------------------------------------------------------------------------------
@never_cache
@require_http_methods(["GET", "POST"])
def signin(request):
    error = None
    ended = request.session.pop("console.ended", None)
    form = forms.SigninForm(_posted(request), client_ip=client_ip(request))
    if request.method == "POST":
        if form.is_valid():
            accounts.remember_password_step(request, form.cleaned_data["membership"])
            return redirect("console:signin_code")
        error = form.refusal
    return _signin_page(
        request,
        "console/signin.html",
        error,
        {"ended": ended, "username": form["username"].value() or ""},
        ("username", "password"),
    )


def _signin_page(request, template, error, context, fields):
    """A sign-in step's page: 400 with the refusal, or 429 with Retry-After past the rate limit."""
    status = 429 if error and error.code == accounts.SIGNIN_RATE_LIMITED.code else 400 if error else 200
    response = page(
        request, template, {**context, "error": _field_error(error, fields) if error else None}, status=status
    )
    if status == 429:
        response["Retry-After"] = str(error.params["retry_after"])
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def signin_code(request):
    membership = accounts.pending_membership(request)
    if membership is None:
        request.session["console.ended"] = "pending_expired"
        return redirect("console:signin")
    error = None
    if request.method == "POST":
        form = forms.SigninCodeForm(request.POST, membership=membership, client_ip=client_ip(request))
        if form.is_valid():
            accounts.sign_in(request, membership, form.cleaned_data["device"])
            return redirect("console:board")
        error = form.refusal
        if error.code == accounts.ACCOUNT_LOCKED.code:
            request.session.pop(accounts.PENDING_KEY, None)
    return _signin_page(request, "console/signin_code.html", error, {}, ("code",))


@require_POST
def signout(request):
    accounts.sign_out(request)
    request.session["console.ended"] = "signed_out_here"
    return redirect("console:signin")


@require_POST
@staff_required
def signout_everywhere(request):
    accounts.do_sign_out_everywhere(request.staff)
    accounts.sign_out(request)
    request.session["console.ended"] = "signed_out_everywhere"
    return redirect("console:signin")


# --- enrolment -------------------------------------------------------------------------------------
@never_cache
@require_http_methods(["GET", "POST"])
def enrol(request, token):
    link = accounts.enrolment_link(token)
    if link is None:
        return _enrol_invalid(request)
    error = None
    if request.method == "POST":
        form = forms.EnrolmentForm(request.POST, user=link.membership.user)
        try:
            form.checked()
            device = accounts.do_start_enrolment(
                link, form.cleaned_data["password"], form.cleaned_data["password_again"]
            )
        except HomeConsentError as exc:
            error = _field_error(exc, ("password", "password_again"))
        else:
            request.session.cycle_key()
            request.session[accounts.ENROL_KEY] = {"device": device.pk, "at": timezone.now().isoformat()}
            return redirect("console:enrol_totp")
    return page(
        request,
        "console/enrol.html",
        {"link": link, "membership": link.membership, "error": error},
        status=400 if error else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def enrol_totp(request):
    state = request.session.get(accounts.ENROL_KEY)
    device = None
    if state and timezone.now() - datetime.datetime.fromisoformat(state["at"]) < datetime.timedelta(
        minutes=30
    ):
        device = TOTPDevice.objects.select_related("user").filter(pk=state["device"], confirmed=False).first()
    if device is None:
        return _enrol_invalid(request)
    error = None
    if request.method == "POST":
        form = forms.TotpForm(request.POST, digits=device.digits)
        try:
            form.checked()
            membership = accounts.do_confirm_enrolment(device, form.cleaned_data["code"])
        except HomeConsentError as exc:
            error = _field_error(exc, ("code",))
        else:
            accounts.sign_in(request, membership, device)
            return redirect("console:board")
    uri = device.config_url
    secret = uri.split("secret=", 1)[1].split("&", 1)[0]
    context = {
        "error": error,
        "otpauth_uri": uri,
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr_svg": entry_qr_svg(uri, scale=5, title=_("TOTP enrolment QR code")),
        "username": device.user.get_username(),
    }
    return page(request, "console/enrol_totp.html", context, status=400 if error else 200)


# --- the live board --------------------------------------------------------------------------------
@staff_required
def board(request):
    staff = request.staff
    events = reads.events_since(staff.institution)
    ended = reads.ended_consents(staff.institution, [e["consent_id"] for e in events])
    return page(
        request,
        "console/board.html",
        {
            "staff": staff,
            "events": events,
            "rows": reads.board_rows(events, ended),
            "socket_path": SOCKET_PATH,
            "events_url": reverse("console:events"),
            "nav": "board",
        },
    )


@staff_required
def events(request):
    """The board's catch-up after a dropped connection: events at or after ?since= (ISO time)."""
    form = forms.EventsSinceForm(request.GET)
    try:
        since = form.checked()["since"]
    except HomeConsentError as exc:
        return JsonResponse(exc.as_dict(), status=400, json_dumps_params={"ensure_ascii": False})
    return JsonResponse(
        {"events": reads.events_since(request.staff.institution, since), "at": timezone.now().isoformat()}
    )


# --- the entry URL card ----------------------------------------------------------------------------
@staff_required
def entry_card(request):
    staff = request.staff
    entry = entry_for(staff.institution)
    url = entry_url(entry, request)
    return page(
        request,
        "console/entry.html",
        {
            "staff": staff,
            "entry": entry,
            "url": url,
            "nav": "entry",
            "qr_svg": entry_qr_svg(url, scale=6, title=_("QR code of the consent entry URL")),
            "rotated": forms.EntryNoticeForm(request.GET).rotated_notice(),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_required(admin=True)
def entry_rotate(request):
    staff = request.staff
    if request.method == "POST":
        confirm = forms.ConfirmForm(request.POST)
        if not confirm.is_valid():
            return page(
                request,
                "console/entry_rotate.html",
                {"staff": staff, "nav": "entry", "error": _error(confirm.refusal)},
                status=400,
            )
        do_rotate_entry_token(
            staff.institution, actor_type=ActorType.INSTITUTION_STAFF, actor_id=reads.actor_id(staff)
        )
        return redirect(reverse("console:entry") + "?rotated=1")
    return page(request, "console/entry_rotate.html", {"staff": staff, "nav": "entry"})


# --- consented patients ----------------------------------------------------------------------------
@staff_required
def patients(request):
    staff = request.staff
    form = forms.PatientFilterForm(request.GET)
    form.is_valid()  # an invalid input is reported; the valid ones still apply
    data = form.cleaned_data
    kind, status, query = data.get("kind", ""), data.get("status", "in_force"), data.get("q", "")
    filters = form.filters()
    if query:
        rows = reads.find_patients(staff, query)
    else:
        rows = reads.consented_patients(staff, kind=kind or None, status=status, **filters)
    error = form.first_error()
    return page(
        request,
        "console/patients.html",
        {
            "staff": staff,
            "rows": rows,
            "kind": kind,
            "status": status,
            "filters": filters,
            "nav": "patients",
            "kinds": [(k, ConsentKind(k).label) for k in reads.LISTED_KINDS],
            "query": (form["q"].value() or "").strip(),
            "searched": bool(query),
            "error": error,
        },
        status=400 if error else 200,
    )


def _patient_gone(request, staff, exc):
    return page(
        request,
        "console/patient_gone.html",
        {
            "staff": staff,
            "error": _error(exc.error),
            "newer": exc.newer,
            "ending": exc.ending,
            "nav": "patients",
        },
        status=404,
    )


def _end_max(consent):
    """The latest end date staff may set: the day before the current last day (only earlier), or
    for an open-ended consent the same five-year limit as the consent pages (rules.latest_end_date)."""
    last_day = consent.last_day
    if last_day is None:
        return rules.latest_end_date()
    return last_day - datetime.timedelta(days=1)


@staff_required
def patient(request, consent_id):
    staff = request.staff
    try:
        view = reads.patient_view(staff, consent_id)
    except reads.PatientNotFound as exc:
        return _patient_gone(request, staff, exc)
    return page(
        request,
        "console/patient.html",
        {
            "staff": staff,
            "view": view,
            "nav": "patients",
            "elig": view.eligibility.as_dict(),
            "end": request.session.pop("console.end", None),
            "end_max": _end_max(view.consent),
            "last_day": view.consent.last_day,
        },
    )


@require_POST
@staff_required
def patient_end(request, consent_id):
    """Set an earlier end date of a home-visit consent; the outcome is shown on the patient page."""
    staff = request.staff
    form = forms.EndDateForm(request.POST)
    try:
        form.checked()
        until = form.cleaned_data["until"]
        actions.do_set_consent_end(staff, consent_id, until)
        request.session["console.end"] = {"done": until.isoformat()}
    except reads.PatientNotFound as exc:
        return _patient_gone(request, staff, exc)
    except HomeConsentError as exc:
        request.session["console.end"] = _error(exc)
    return redirect("console:patient", consent_id=consent_id)


@require_POST
@staff_required
def patient_requery(request, consent_id):
    staff = request.staff
    try:
        view = reads.requery(staff, consent_id)
    except reads.PatientNotFound as exc:
        return _patient_gone(request, staff, exc)
    return page(
        request,
        "console/requery.html",
        {"staff": staff, "view": view, "nav": "patients", "elig": view.result.as_dict()},
    )


# --- the paper eligibility certificate (資格確認書) -------------------------------------------------------
PAPER_STATUS = {paper.NO_MATCH.code: 404, paper.CARD_REGISTERED.code: 409, paper.RATE_LIMITED.code: 429}


@require_http_methods(["GET", "POST"])
@staff_required
def paper_certificate(request):
    """The keys printed on a patient's 資格確認書 in, today's eligibility out, the path named."""
    staff = request.staff
    form = forms.PaperCertificateForm(_posted(request))
    check, refusal = None, None
    if request.method == "POST":
        try:
            check = reads.paper_certificate(staff, form.checked()["keys"])
        except HomeConsentError as exc:
            refusal = exc
    status = PAPER_STATUS.get(refusal.code, 400) if refusal else 200
    response = page(
        request,
        "console/paper_certificate.html",
        {
            "staff": staff,
            "nav": "paper_certificate",
            "form": form.data if check is None else {},
            "field_errors": {name: form.errors[name][0] for name in form.fields_refused()},
            "error": _error(refusal, form.fields_refused()) if refusal else None,
            "check": check,
            "elig": check.result.as_dict() if check else None,
        },
        status=status,
    )
    if refusal is not None and refusal.params.get("retry_after"):
        response["Retry-After"] = str(refusal.params["retry_after"])
    return response


# --- API clients -----------------------------------------------------------------------------------
def _scope_label(label):
    """A scope's description in the page's language only (the vocabulary writes "日本語 / English")."""
    ja, _sep, en = label.partition(" / ")
    return ja if (get_language() or "ja").startswith("ja") or not en else en


def _scope_choices(institution):
    return [
        (s, _scope_label(label))
        for s, label in SCOPES.items()
        if not (institution.qualification_only and s in MEDICAL_SCOPES)
    ]


@require_http_methods(["GET", "POST"])
@staff_required
def clients(request):
    staff = request.staff
    error, registered = None, None
    form = forms.ApiClientForm(_posted(request), institution=staff.institution)
    if request.method == "POST":
        if not staff.is_admin:
            return _forbidden(request, staff)
        try:
            form.checked()
            registered = do_register_client(
                staff.institution,
                form.cleaned_data["name"],
                form.cleaned_data["jwks"],
                form.cleaned_data["scope"],
                by=reads.actor_id(staff),
            )
        except HomeConsentError as exc:
            error = _error(exc)
    rows = ApiClient.objects.filter(institution=staff.institution).order_by("-created_at")
    return page(
        request,
        "console/clients.html",
        {
            "staff": staff,
            "rows": rows,
            "error": error,
            "registered": registered,
            "nav": "clients",
            "scopes": _scope_choices(staff.institution),
            "checked": (form["scope"].value() or []) if error else list(DEFAULT_SCOPES),
            "form": form.data if error else {},
        },
        status=400 if error else 200,
    )


@require_POST
@staff_required(admin=True)
def client_revoke(request, client_id):
    staff = request.staff
    client = ApiClient.objects.filter(client_id=client_id, institution=staff.institution).first()
    if client is None:
        raise Http404
    if forms.ConfirmForm(request.POST).is_valid():
        do_revoke_client(client, by=reads.actor_id(staff))
    return redirect("console:clients")


# --- staff -----------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@staff_required(admin=True)
def staff_list(request):
    staff = request.staff
    error, link = None, None
    if request.method == "POST":
        relink = forms.StaffActionForm(request.POST).relink()
        form = (
            forms.RelinkForm(request.POST, institution=staff.institution)
            if relink
            else forms.StaffForm(request.POST)
        )
        try:
            form.checked()
            if relink:
                member = form.cleaned_data["membership"]
                token = accounts.do_issue_enrolment_link(member, by=reads.actor_id(staff))
            else:
                member, token = accounts.do_create_staff(
                    staff.institution,
                    form.cleaned_data["username"],
                    form.cleaned_data["role"],
                    by=reads.actor_id(staff),
                )
            link = {
                "username": member.user.get_username(),
                "url": request.build_absolute_uri(reverse("console:enrol", args=[token])),
            }
        except HomeConsentError as exc:
            error = _error(exc)
    members = (
        StaffMembership.objects.filter(institution=staff.institution)
        .select_related("user")
        .order_by("user__username")
    )
    return page(
        request,
        "console/staff.html",
        {
            "staff": staff,
            "members": members,
            "error": error,
            "link": link,
            "roles": StaffRole.choices,
            "nav": "staff",
        },
        status=400 if error else 200,
    )
