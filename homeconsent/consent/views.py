"""The consent pages: an institution's entry, the home-visit and telehealth flows, inquiry and cancel-all.

One question per screen. A consent flow is one server-side draft (drafts.py) of this browser's
device: each step's form writes to it, confirming freezes it, the card step signs only the frozen
draft, done is terminal, and opening the entry page or starting a flow ends every earlier draft of
the device, so on a shared tablet a page of the previous patient left in the history shows that the
procedure has ended and nothing of them. Every form posts back the draft it was shown for.

The card step is the only page with script (static/js/consent-flow.js): it asks this server for a
challenge, gives its DigestInfo and the PIN to the local reader bridge, and posts back only the
certificate and the signature. The PIN is never sent here. On a phone the same step goes through the
authentication app instead (app_start / app_done); both routes are the proof step of proof.py.
"""

import datetime
import secrets
import urllib.parse

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from homeconsent import csp
from homeconsent.authapp.relying_party import AppRefusal
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.registry.models import Person

from . import app_views, drafts, forms, proof, rules, services, telehealth
from .challenges import client_ip
from .entry import entry_by_token, entry_for, entry_qr_svg, entry_url
from .models import ConsentEndedBy, ConsentItem, DraftStatus

# The flows reachable from an entry, by URL segment: the consent kind they register (None: none).
FLOWS = {**drafts.FLOW_KINDS, "mine": None}
# How long a card proof opens the "your consents" pages.
# Short: the device may be a shared tablet handed to the next patient.
PROOF_LIFETIME = datetime.timedelta(minutes=3)
# How long the card step waits for the card to be placed on the reader.
CARD_WAIT_SECONDS = 60

# What a patient can choose to share, with plain words. Qualification (資格情報) is always shared.
SHAREABLE_ITEMS = [
    (
        ConsentItem.MEDICATION,
        _("Medicines"),
        _("Medicines you were prescribed or given at pharmacies in the last three years."),
    ),
    (
        ConsentItem.TREATMENT,
        _("Treatment"),
        _("Visits and treatments at hospitals and clinics (not diagnoses)."),
    ),
    (
        ConsentItem.CHECKUP,
        _("Health checkups"),
        _("Results of your specific health checkups, such as blood pressure and blood tests."),
    ),
    (
        ConsentItem.OPERATION,
        _("Operations"),
        _("Operations you had, with their dates."),
    ),
]
ITEM_LABELS = {code: label for code, label, _help in SHAREABLE_ITEMS}
ITEM_LABELS[ConsentItem.QUALIFICATION] = _(
    "Health insurance status: the insurance you belong to and your share of costs (always shared)"
)
ITEM_LABELS[ConsentItem.LIMIT_CERTIFICATE] = _("Limit on your medical costs (限度額)")

# The codes of these pages' own refusals; each page prints its code, for a call to support.
ENTRY_NOT_FOUND = ErrorCode(
    "entry_not_found",
    "この同意ページは使えません。医療機関等に、いまのアドレスか QR コードを確かめてください。",
    "This consent page is not available. Ask the institution for its current address or QR code.",
)
SESSION_EXPIRED = ErrorCode(
    "session_expired",
    "前の画面での回答がないため、続けられません。最初からやり直してください。",
    "The earlier answers are missing, so this step cannot go on. Please start from the beginning.",
)


# --- helpers -------------------------------------------------------------------------------------
def content_security_policy(form_targets=()) -> str:
    return csp.policy(bridge=True, form_targets=[*form_targets, *proof.app_form_targets()])


def _return_origin(session_id) -> str | None:
    """The origin of an app session's return URL: 中止する posts here and is redirected there."""
    try:
        parts = urllib.parse.urlsplit(telehealth.session_by_id(session_id).return_url)
    except HomeConsentError:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def page(request, template, context=None, status=200):
    response = render(request, template, context or {}, status=status)
    # Browsers hold a form's redirect to form-action too: the stop form's way back to the app is allowed.
    origin = _return_origin(context["app_session_id"]) if (context or {}).get("app_session_id") else None
    response["Content-Security-Policy"] = content_security_policy([origin] if origin else [])
    response["Referrer-Policy"] = "same-origin"  # the entry token stays out of other sites' logs
    # Never from the browser's cache or back/forward cache: Back asks the server, which knows the draft ended.
    response["Cache-Control"] = "no-store"
    return response


def not_found(request):
    return page(request, "consent/entry_not_found.html", {"code": ENTRY_NOT_FOUND.code}, status=404)


def _device(request) -> str:
    """This browser's device id: the drafts of a device end together when the next patient starts."""
    device = request.session.get("consent.device")
    if not device:
        device = request.session["consent.device"] = drafts.new_device_id()
    return device


def _draft_key(entry, flow):
    return f"consent.{entry.pk}.{flow}.draft"


def _current_draft(request, entry, flow):
    pointer = request.session.get(_draft_key(entry, flow)) or {}
    # A rotated token ends the flows started from the old one.
    if pointer.get("token") != entry.token:
        return None
    return drafts.draft_for(request.session.get("consent.device"), pointer.get("draft"))


def _point_at(request, entry, flow, draft):
    request.session[_draft_key(entry, flow)] = {"draft": draft.key, "token": entry.token}


def _end_drafts_of_device(request) -> None:
    device = request.session.get("consent.device")
    if device:
        drafts.do_end_drafts(device)


def _state_key(entry, flow):
    return f"consent.{entry.pk}.{flow}"


def _state(request, entry, flow) -> dict | None:
    """The inquiry flow's state ("mine" registers nothing, so it needs no draft)."""
    state = request.session.get(_state_key(entry, flow))
    # A rotated token ends the flows started from the old one.
    if not state or state.get("token") != entry.token:
        return None
    return state


def _save_state(request, entry, flow, state):
    state["token"] = entry.token
    request.session[_state_key(entry, flow)] = state


def _proof_key(entry):
    return f"consent.{entry.pk}.proved"


def _proof(request, entry):
    proof = request.session.get(_proof_key(entry))
    if not proof or proof.get("token") != entry.token:
        return None
    if timezone.now() - datetime.datetime.fromisoformat(proof["at"]) > PROOF_LIFETIME:
        request.session.pop(_proof_key(entry), None)
        return None
    return proof


def _next_step(request, entry, proof) -> str:
    """A one-time step for the links and form of the page being shown (update, cancel-all, back to
    the list). The list itself opens once from the card; after that only with the current step, so
    the next person on the device cannot open it or cancel-all by address, nor from history."""
    proof["shown"] = True
    proof["step"] = secrets.token_urlsafe(16)
    request.session[_proof_key(entry)] = proof
    return proof["step"]


def _take_step(request, entry, proof) -> bool:
    # The update link carries the step in its query; the cancel-all and update forms post it.
    given = (
        forms.InquiryStepForm(request.POST).given_step() or forms.InquiryStepForm(request.GET).given_step()
    )
    expected = proof.pop("step", "")
    request.session[_proof_key(entry)] = proof  # used or not, this step is spent
    return bool(expected) and constant_time_compare(given, expected)


def _problem_redirect(entry, code=SESSION_EXPIRED.code):
    return redirect("consent:problem", token=entry.token, code=code)


# The numbered steps of each flow, for the progress shown on the page and in its title. An app's
# session fixed the date and the items: the patient agrees to them on one screen.
FLOW_STEPS = {
    "home": ["about", "items", "limit", "confirm", "card"],
    "telehealth": ["about", "visit_date", "items", "limit", "confirm", "card"],
    "app": ["about", "items", "confirm", "card"],
    "mine": ["about", "card"],
}


def _step_of_flow(flow, draft, step):
    steps = (
        FLOW_STEPS["app" if draft is not None and getattr(draft, "session_id", None) else flow]
        if flow
        else []
    )
    return (steps.index(step) + 1, len(steps)) if step in steps else None


def _context(entry, flow=None, draft=None, step_name=None, **extra):
    institution = entry.institution
    # In a telehealth app's session, "stop" ends the session and goes back to the app (_stop.html).
    session = getattr(draft, "session", None)
    return {
        "entry": entry,
        "institution": institution,
        "flow": flow,
        "draft": draft,
        "app_session_id": session.session_id if session is not None else None,
        "flow_step": _step_of_flow(flow, draft, step_name),
        **extra,
    }


# The order items are listed in: insurance first, then as on the "what to share" screen.
ITEM_ORDER = [
    ConsentItem.QUALIFICATION,
    *(code for code, _l, _h in SHAREABLE_ITEMS),
    ConsentItem.LIMIT_CERTIFICATE,
]


def _items_summary(items):
    ordered = sorted(
        items, key=lambda item: ITEM_ORDER.index(item) if item in ITEM_ORDER else len(ITEM_ORDER)
    )
    return [ITEM_LABELS.get(item, item) for item in ordered]


def _shareable(institution):
    # A qualification-only site (資格確認限定型) never receives medical information.
    return [] if institution.qualification_only else SHAREABLE_ITEMS


def _app_session_error(draft) -> HomeConsentError | None:
    """Why the draft's telehealth app session can no longer be consented in (expired, stopped), or None."""
    if draft is None or draft.session is None or draft.status == DraftStatus.DONE:
        return None
    try:
        telehealth.check_session_open(draft.session)
    except HomeConsentError as error:
        return error
    return None


def _person(proof):
    return Person.objects.get(pk=proof["person"])


def _language():
    return (translation.get_language() or "ja")[:2]


def _ended(request, entry, draft=None):
    """A page of a draft that has ended (the next patient started, stopped, or done long ago).
    Nothing of the draft is shown: `draft` is only named for the reader of the calls."""
    start_url = reverse("consent:entry", args=[entry.token])
    return page(
        request,
        "consent/ended.html",
        _context(entry, code=drafts.DRAFT_ENDED.code, start_url=start_url),
        status=410,
    )


def _flow_draft(request, token, flow, step):
    """The entry and this device's draft at one step of a flow, or the response saying why not."""
    entry = entry_by_token(token)
    if entry is None or flow not in drafts.FLOW_KINDS:
        return None, None, not_found(request)
    draft = _current_draft(request, entry, flow)
    if draft is None:
        return entry, None, _problem_redirect(entry, SESSION_EXPIRED.code)
    # A form shown for an earlier draft (another patient's, or before starting again) changes nothing.
    if request.method == "POST" and not forms.DraftKeyForm(request.POST).names(draft):
        return entry, None, _ended(request, entry)
    if draft.status == DraftStatus.DONE and drafts.done_shown(draft):
        # Back from the done page: the consent is registered; nothing more to answer or sign.
        return entry, None, redirect("consent:done", token=token, flow=flow)
    if not drafts.is_live(draft) or draft.status == DraftStatus.DONE:
        return entry, None, _ended(request, entry, draft)
    error = _app_session_error(draft)
    if error is not None:
        return entry, None, _session_problem(request, error, draft.session.session_id)
    if not drafts.ready_for(draft, step):
        return entry, None, _problem_redirect(entry, SESSION_EXPIRED.code)
    return entry, draft, None


def _coded(call, *args, **kwargs):
    """Run a draft service; (result, None) or (None, the refusal as the page prints it)."""
    try:
        return call(*args, **kwargs), None
    except HomeConsentError as error:
        return None, {"code": error.code, "message": error.message(_language())}


# --- entry ---------------------------------------------------------------------------------------
@never_cache
def entry(request, token):
    entry = entry_by_token(token)
    if entry is None:
        return not_found(request)
    # On a shared device (the nurse's tablet) the next patient starts here: nothing of the previous
    # one stays open, neither a card proof for "your consents" nor a draft (done or not).
    request.session.pop(_proof_key(entry), None)
    _end_drafts_of_device(request)
    return page(request, "consent/entry.html", _context(entry))


def entry_qr(request, token):
    entry = entry_by_token(token)
    if entry is None:
        return not_found(request)
    url = entry_url(entry, request)
    response = HttpResponse(
        entry_qr_svg(url, scale=8, title=entry.institution.name), content_type="image/svg+xml"
    )
    response["Cache-Control"] = "no-store"
    return response


# --- a telehealth app's session ------------------------------------------------------------------
SESSION_PROBLEMS = {
    telehealth.SESSION_UNKNOWN.code: "session_unknown",
    telehealth.SESSION_EXPIRED.code: "session_expired",
    telehealth.SESSION_COMPLETED.code: "session_completed",
    telehealth.SESSION_DECLINED.code: "session_declined",
}


def _session_problem(request, error, session_id=None):
    """Why an app's session cannot go on; the way back to the app unless the session is unknown."""
    unknown = error.code == telehealth.SESSION_UNKNOWN.code
    return_href = reverse("consent:session_return", args=[session_id]) if session_id and not unknown else None
    return page(
        request,
        "consent/session_problem.html",
        {
            "problem": SESSION_PROBLEMS.get(error.code, error.code),
            "code": error.code,
            "return_href": return_href,
        },
        status=404 if unknown else 410,
    )


def _known_app_session(session_id):
    """The session of an app still registered here (a revoked app's patients are not sent back to it)."""
    session = telehealth.session_by_id(session_id)
    if not session.app.active:
        raise telehealth.SESSION_UNKNOWN()
    return session


@never_cache
def app_session(request, session_id):
    """A telehealth app sent the patient here: a draft of the telehealth flow for its booked visit and items."""
    try:
        session = telehealth.session_by_id(session_id)
    except HomeConsentError as error:
        return _session_problem(request, error)
    try:
        telehealth.check_session_open(session)
    except HomeConsentError as error:
        return _session_problem(request, error, session.session_id)
    entry = entry_for(session.institution)
    draft = drafts.do_start_draft(_device(request), session.institution, "telehealth", session=session)
    _point_at(request, entry, "telehealth", draft)
    return redirect("consent:about", token=entry.token, flow="telehealth")


@require_POST
def app_session_stop(request, session_id):
    """中止する in an app's session: the session ends as declined and the patient goes back to the app."""
    try:
        session = _known_app_session(session_id)
    except HomeConsentError as error:
        return _session_problem(request, error)
    session = telehealth.do_decline_session(session)
    _end_drafts_of_device(request)
    return redirect(telehealth.return_redirect_url(session))


@never_cache
def app_session_return(request, session_id):
    """Back to the app from a session that ended (expired, say), with the status it has now."""
    try:
        session = _known_app_session(session_id)
    except HomeConsentError as error:
        return _session_problem(request, error)
    _end_drafts_of_device(request)
    return redirect(telehealth.return_redirect_url(session))


# --- the consent flows ---------------------------------------------------------------------------
def _update_key(entry):
    return f"consent.{entry.pk}.update_items"


@never_cache
@require_http_methods(["GET", "POST"])
def about(request, token, flow):
    """What the consent is; 始める starts a new draft (ending every earlier draft of the device)."""
    entry = entry_by_token(token)
    if entry is None or flow not in FLOWS:
        return not_found(request)
    if flow == "mine":
        request.session.pop(_proof_key(entry), None)
        _save_state(request, entry, flow, {})
        return page(request, "consent/mine_about.html", _context(entry, flow, None, "about"))
    current = _current_draft(request, entry, flow)
    # An app's session already has its draft (its date and items are fixed): 始める goes on with it.
    app_draft = None
    if (
        current is not None
        and current.session_id
        and drafts.is_live(current)
        and current.status != DraftStatus.DONE
    ):
        app_draft = current
    if app_draft is not None and (error := _app_session_error(app_draft)) is not None:
        return _session_problem(request, error, app_draft.session.session_id)
    if request.method == "POST":
        form = forms.FlowChoiceForm(request.POST)
        if not form.is_valid() or form.cleaned_data["flow"] != flow:
            return _ended(request, entry)
        if forms.DraftKeyForm(request.POST).names(app_draft):
            return redirect("consent:items", token=token, flow=flow)
        try:
            drafts.check_start_rate(client_ip(request), entry=token, session=request.session.session_key)
        except HomeConsentError as error:
            response = page(
                request,
                "consent/about.html",
                _context(
                    entry,
                    flow,
                    None,
                    "about",
                    error={"code": error.code, "message": error.message(_language())},
                ),
                status=429,
            )
            response["Retry-After"] = str(error.params["retry_after"])
            return response
        # "Change what I share" starts from the current consent's items (taken from the card proof).
        update = forms.InquiryStepForm(request.POST).asks_update()
        items = request.session.pop(_update_key(entry), None) if update else None
        draft = drafts.do_start_draft(_device(request), entry.institution, flow, items=items)
        _point_at(request, entry, flow, draft)
        if flow == "telehealth":
            return redirect("consent:visit_date", token=token)
        return redirect("consent:items", token=token, flow=flow)
    update = False
    proof = _proof(request, entry)
    if forms.InquiryStepForm(request.GET).asks_update() and proof and _take_step(request, entry, proof):
        request.session[_update_key(entry)] = proof.get("items", [])
        update = True
    # The update flow carries its items until 始める: the proof is not needed any more.
    request.session.pop(_proof_key(entry), None)
    return page(
        request,
        "consent/about.html",
        _context(
            entry,
            flow,
            app_draft,
            "about",
            visit_date=app_draft.visit_date if app_draft else None,
            update=update,
        ),
    )


@never_cache
@require_http_methods(["GET", "POST"])
def visit_date(request, token, flow="telehealth"):
    entry, draft, refusal = _flow_draft(request, token, flow, "visit_date")
    if refusal:
        return refusal
    if draft.session_id:
        # The app booked the date: shown on the about, items and confirm screens, never asked.
        return redirect("consent:items", token=token, flow=flow)
    today = rules.today()
    error = None
    # Never pre-filled with today: a patient pressing 次へ unchanged would consent for the wrong day.
    value = draft.visit_date.isoformat() if draft.visit_date else ""
    if request.method == "POST":
        form = forms.VisitDateForm(request.POST, today=today)
        value = (form["visit_date"].value() or "").strip()  # a refused date stays in the box
        if form.is_valid():
            _done, error = _coded(drafts.do_set_visit_date, draft, form.cleaned_data["visit_date"])
            if error is None:
                return redirect("consent:items", token=token, flow=flow)
        else:
            error = form.first_error()
    return page(
        request,
        "consent/visit_date.html",
        _context(
            entry,
            flow,
            draft,
            "visit_date",
            error=error,
            today=today,
            latest=today + rules.VISIT_DATE_HORIZON,
            value=value,
        ),
        status=400 if error else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def items(request, token, flow):
    entry, draft, refusal = _flow_draft(request, token, flow, "items")
    if refusal:
        return refusal
    if draft.session_id:
        # The app booked the visit with these items: the patient agrees to them or stops here.
        if request.method == "POST":
            return redirect("consent:confirm", token=token, flow=flow)
        requested = _items_summary([ConsentItem.QUALIFICATION, *draft.items])
        return page(
            request,
            "consent/items_requested.html",
            _context(entry, flow, draft, "items", requested=requested, visit_date=draft.visit_date),
        )
    error = None
    if request.method == "POST":
        form = forms.ItemsForm(request.POST, kind=draft.kind, institution=entry.institution)
        if form.is_valid():
            _done, error = _coded(drafts.do_set_items, draft, form.cleaned_data["items"])
            if error is None:
                return redirect("consent:limit", token=token, flow=flow)
        else:
            error = form.first_error()
    selected = set(draft.items)
    choices = [
        {"code": code, "label": label, "help": help_text, "checked": code in selected}
        for code, label, help_text in _shareable(entry.institution)
    ]
    return page(
        request,
        "consent/items.html",
        _context(entry, flow, draft, "items", choices=choices, error=error),
        status=400 if error else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def limit(request, token, flow):
    entry, draft, refusal = _flow_draft(request, token, flow, "limit")
    if refusal:
        return refusal
    if draft.session_id:
        return redirect("consent:confirm", token=token, flow=flow)
    error = None
    if request.method == "POST":
        form = forms.LimitForm(request.POST)
        if form.is_valid():
            _done, error = _coded(drafts.do_set_limit, draft, form.cleaned_data["share_limit"])
            if error is None:
                return redirect("consent:confirm", token=token, flow=flow)
        else:
            # Never a silent "no": the question is asked again, the earlier answers kept.
            error = form.first_error()
    current = None
    if draft.limit_answered or ConsentItem.LIMIT_CERTIFICATE in draft.items:
        current = "yes" if ConsentItem.LIMIT_CERTIFICATE in draft.items else "no"
    return page(
        request,
        "consent/limit.html",
        _context(entry, flow, draft, "limit", error=error, current=current),
        status=400 if error else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request, token, flow):
    entry, draft, refusal = _flow_draft(request, token, flow, "confirm")
    if refusal:
        return refusal
    # Home visits last while care continues; the patient may choose an end date. It is chosen
    # here, before the card, so the signed challenge binds it.
    today = rules.today()
    latest = rules.latest_end_date(today)
    error = date_error = None
    until_choice = "date" if draft.available_until else "care"
    until_date = draft.available_until.isoformat() if draft.available_until else ""
    if request.method == "POST":
        form = forms.ConfirmForm(request.POST, kind=draft.kind, today=today)
        until_choice = form.data.get("until", "care")
        until_date = (form["until_date"].value() or "").strip()
        if form.is_valid():
            _done, error = _coded(
                drafts.do_confirm_draft, draft, available_until=form.cleaned_data["available_until"]
            )
            if error is None:
                return redirect("consent:card", token=token, flow=flow)
        else:
            error = form.first_error()
            date_error = "until_date" in form.errors
    shared = [ConsentItem.QUALIFICATION, *draft.items]
    not_shared = [code for code, _l, _h in _shareable(entry.institution) if code not in draft.items]
    if ConsentItem.LIMIT_CERTIFICATE not in draft.items:
        not_shared.append(ConsentItem.LIMIT_CERTIFICATE)
    return page(
        request,
        "consent/confirm.html",
        _context(
            entry,
            flow,
            draft,
            "confirm",
            shared=_items_summary(shared),
            not_shared=_items_summary(not_shared),
            visit_date=draft.visit_date,
            error=error,
            date_error=date_error,
            until_choice=until_choice,
            until_date=until_date,
            end_date_min=today.isoformat(),
            end_date_max=latest.isoformat(),
        ),
        status=400 if error else 200,
    )


@never_cache
def card(request, token, flow):
    if flow == "mine":
        return _inquiry_card(request, token)
    entry, draft, refusal = _flow_draft(request, token, flow, "card")
    if refusal:
        return refusal
    # Starting again in an app's session starts that session's flow, not the institution's page.
    if draft.session_id:
        start_again_url = reverse("consent:session", args=[draft.session.session_id])
    else:
        start_again_url = reverse("consent:about", args=[token, flow])
    # The card step answers for this draft only: a page left open from an earlier draft gets nowhere.
    bound = "?" + urllib.parse.urlencode({"draft": draft.key})
    return page(
        request,
        "consent/card.html",
        _context(
            entry,
            flow,
            draft,
            "card",
            start_again_url=start_again_url,
            bridge_url=f"ws://{settings.READER_BRIDGE_HOST}:{settings.READER_BRIDGE_PORT}",
            challenge_url=reverse("consent:challenge", args=[token, flow]) + bound,
            answer_url=reverse("consent:answer", args=[token, flow]) + bound,
            restart_url=reverse("consent:confirm", args=[token, flow]),
            card_wait=CARD_WAIT_SECONDS,
            app_start_url=(reverse("consent:app_start", args=[token, flow]) + bound)
            if proof.app_available()
            else "",
        ),
    )


def _inquiry_card(request, token):
    entry = entry_by_token(token)
    if entry is None:
        return not_found(request)
    if _state(request, entry, "mine") is None:
        return _problem_redirect(entry, SESSION_EXPIRED.code)
    start_again_url = reverse("consent:entry", args=[token])
    return page(
        request,
        "consent/card.html",
        _context(
            entry,
            "mine",
            None,
            "card",
            start_again_url=start_again_url,
            bridge_url=f"ws://{settings.READER_BRIDGE_HOST}:{settings.READER_BRIDGE_PORT}",
            challenge_url=reverse("consent:challenge", args=[token, "mine"]),
            answer_url=reverse("consent:answer", args=[token, "mine"]),
            restart_url=reverse("consent:about", args=[token, "mine"]),
            card_wait=CARD_WAIT_SECONDS,
            app_start_url=reverse("consent:app_start", args=[token, "mine"]) if proof.app_available() else "",
        ),
    )


def _json_problem(code, message=None, status=400):
    return JsonResponse({"problem": code, "message": str(message or "")}, status=status)


def _json_refusal(error: HomeConsentError, status):
    return _json_problem(error.code, error.message(_language()), status=status)


def _card_draft(request, entry, flow):
    """The draft a card-step request names (?draft=), which must be this device's current one."""
    current = _current_draft(request, entry, flow)
    if current is None:
        return None, _json_problem(SESSION_EXPIRED.code)
    if not forms.DraftKeyForm(request.GET).names(current):
        return None, _json_refusal(drafts.DRAFT_ENDED(), 410)
    if not drafts.is_live(current) or current.status == DraftStatus.DONE:
        return None, _json_refusal(drafts.DRAFT_ENDED(), 410)
    # Said before the card and the PIN, not after them.
    app_error = _app_session_error(current)
    if app_error is not None:
        return None, _json_refusal(app_error, 410)
    return current, None


def _proof_slot(entry, flow):
    return f"consent.{entry.token}.{flow}"


def _card_step(request, token, flow):
    """The entry and frozen draft a card step works on (no draft for the inquiry), or the refusal."""
    entry = entry_by_token(token)
    if entry is None or flow not in FLOWS:
        return None, None, _json_problem(SESSION_EXPIRED.code, status=404)
    if flow == "mine":
        refusal = _json_problem(SESSION_EXPIRED.code) if _state(request, entry, flow) is None else None
        return entry, None, refusal
    draft, refusal = _card_draft(request, entry, flow)
    return entry, draft, refusal


@require_POST
def challenge(request, token, flow):
    entry, draft, refusal = _card_step(request, token, flow)
    if refusal is not None:
        return refusal
    try:
        # Inquiry: the card proves who is asking; its purpose keeps it from registering anything.
        issued = proof.issue_for_page(
            request,
            _proof_slot(entry, flow),
            proof.Purpose.INQUIRY if draft is None else proof.Purpose.CONSENT,
            institution=entry.institution,
            draft=draft,
            rate_scopes={"entry": token},
        )
    except HomeConsentError as error:
        return proof.refusal(error, status=400)
    return JsonResponse(issued)


def _proved_inquiry(request, entry, proved) -> str:
    """The inquiry's proof, whichever authenticator gave it: opens the "your consents" pages."""
    # A new session key with the proof: a key seen before the card answered cannot carry it.
    request.session.cycle_key()
    request.session[_proof_key(entry)] = {
        "token": entry.token,
        "person": proved.person.pk,
        "at": timezone.now().isoformat(),
    }
    return reverse("consent:mine", args=[entry.token])


@require_POST
def answer(request, token, flow):
    entry, draft, refusal = _card_step(request, token, flow)
    if refusal is not None:
        return refusal
    purpose = proof.Purpose.INQUIRY if draft is None else proof.Purpose.CONSENT
    registering = False
    try:
        # The answer's verification and the consent it registers commit together, once.
        with proof.acting_on_card_answer(
            request, _proof_slot(entry, flow), purpose, request.body, institution=entry.institution
        ) as proved:
            if draft is not None:
                registering = True
                drafts.do_register_consent_from_draft(draft, proved, savepoint=False)
    except HomeConsentError as error:
        if registering:
            return _json_refusal(error, 403)
        if error.code == proof.ANSWER_UNREADABLE.code:
            return _json_problem(
                error.code, _("The answer from the card could not be read. Please try again.")
            )
        if error.code in (proof.PROOF_ENDED.code, "purpose_mismatch"):
            return _json_problem(SESSION_EXPIRED.code)
        return _json_refusal(error, 403)
    if draft is None:
        return JsonResponse({"next": _proved_inquiry(request, entry, proved)})
    return JsonResponse({"next": reverse("consent:done", args=[token, flow])})


# --- the app route of the card step (phones: the authentication app) ------------------------------
@require_POST
def app_start(request, token, flow):
    """A challenge for this draft (or the inquiry), then off to the authentication app."""
    entry = entry_by_token(token)
    if entry is None or flow not in FLOWS:
        return not_found(request)
    back = reverse("consent:card", args=[token, flow])
    draft = None
    if flow == "mine":
        if _state(request, entry, flow) is None:
            return _problem_redirect(entry, SESSION_EXPIRED.code)
    else:
        draft, refusal = _card_draft(request, entry, flow)
        if refusal is not None:
            code = refusal.status_code == 410 and drafts.DRAFT_ENDED() or SESSION_EXPIRED()
            return app_views.app_problem(request, AppRefusal(code, back), status=410)
        back += "?" + urllib.parse.urlencode({"draft": draft.key})
    try:
        url = proof.begin_with_app(
            request,
            _proof_slot(entry, flow),
            proof.Purpose.INQUIRY if draft is None else proof.Purpose.CONSENT,
            institution=entry.institution,
            draft=draft,
            rate_scopes={"entry": token},
            next_url=reverse("consent:app_done", args=[token, flow]),
            back_url=back,
        )
    except HomeConsentError as error:
        return app_views.app_problem(request, AppRefusal(error, back), status=400)
    except AppRefusal as refused:
        return app_views.app_problem(request, refused, status=502)
    return redirect(url)


@never_cache
def app_done(request, token, flow):
    """Back from the authentication app (the callback verified it): the same step as the card's answer."""
    entry = entry_by_token(token)
    if entry is None or flow not in FLOWS:
        return not_found(request)
    back = reverse("consent:card", args=[token, flow])
    try:
        if flow == "mine":
            proved = proof.answer_with_app(
                request, _proof_slot(entry, flow), proof.Purpose.INQUIRY, institution=entry.institution
            )
            return redirect(_proved_inquiry(request, entry, proved))
        draft = _current_draft(request, entry, flow)
        if draft is None:
            return _problem_redirect(entry, SESSION_EXPIRED.code)
        proved = proof.answer_with_app(
            request, _proof_slot(entry, flow), proof.Purpose.CONSENT, institution=entry.institution
        )
        drafts.do_register_consent_from_draft(draft, proved)
    except HomeConsentError as error:
        return app_views.app_problem(request, AppRefusal(error, back))
    return redirect("consent:done", token=token, flow=flow)


@never_cache
def done(request, token, flow):
    entry = entry_by_token(token)
    if entry is None or flow not in drafts.FLOW_KINDS:
        return not_found(request)
    draft = _current_draft(request, entry, flow)
    if draft is None:
        return _problem_redirect(entry, SESSION_EXPIRED.code)
    if draft.status != DraftStatus.DONE or not drafts.done_shown(draft):
        # Ended (the next patient started), or left too long: nothing of the patient is shown.
        return _ended(request, entry, draft)
    consent = drafts.show_done(draft)
    return_url = telehealth.return_redirect_url(draft.session) if draft.session_id else None
    return page(
        request,
        "consent/done.html",
        _context(
            entry,
            flow,
            consent=consent,
            shared=_items_summary(consent.items),
            return_url=return_url,
            last_day=consent.last_day,
            person_name=consent.person.name,
            portal_url=reverse("portal:home"),
            inquiry_url=reverse("consent:about", args=[token, "mine"]),
        ),
    )


# --- inquiry, update and cancel-all --------------------------------------------------------------
def _consent_rows(consents):
    return [{"consent": c, "items": _items_summary(c.items), "last_day": c.last_day} for c in consents]


@never_cache
def mine(request, token):
    entry = entry_by_token(token)
    if entry is None:
        return not_found(request)
    proof = _proof(request, entry)
    if proof is None or (proof.get("shown") and not _take_step(request, entry, proof)):
        return _problem_redirect(entry, SESSION_EXPIRED.code)
    consents = list(services.active_consents(_person(proof), entry.institution))
    # The update flow starts from the items of the current home-visit consent.
    current = next((c for c in consents if c.kind == "home_visit"), None)
    proof["items"] = [i for i in (current.items if current else []) if i != ConsentItem.QUALIFICATION]
    step = _next_step(request, entry, proof)
    return page(
        request, "consent/mine.html", _context(entry, "mine", rows=_consent_rows(consents), step=step)
    )


@never_cache
@require_http_methods(["GET", "POST"])
def cancel_all(request, token):
    entry = entry_by_token(token)
    if entry is None:
        return not_found(request)
    proof = _proof(request, entry)
    if proof is None or not _take_step(request, entry, proof):
        return _problem_redirect(entry, SESSION_EXPIRED.code)
    if request.method == "POST":
        person = _person(proof)
        cancelled = services.do_cancel_all(
            person, by=ConsentEndedBy.PATIENT, actor_id=f"person:{person.pk}", institution=entry.institution
        )
        request.session.pop(_proof_key(entry), None)
        return page(request, "consent/cancelled.html", _context(entry, "mine", count=len(cancelled)))
    consents = list(services.active_consents(_person(proof), entry.institution))
    step = _next_step(request, entry, proof)
    return page(
        request, "consent/cancel_all.html", _context(entry, "mine", rows=_consent_rows(consents), step=step)
    )


# --- problems ------------------------------------------------------------------------------------
PAGE_PROBLEMS = {SESSION_EXPIRED.code}


@never_cache
def problem(request, token, code):
    entry = entry_by_token(token)
    if entry is None or code not in PAGE_PROBLEMS:
        return not_found(request)
    return page(request, "consent/problem.html", _context(entry, problem=code, code=code), status=410)
