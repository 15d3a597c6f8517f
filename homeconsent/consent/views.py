"""The consent pages: an institution's entry, the home-visit and telehealth flows, inquiry and cancel-all.

One question per screen. What the patient chose so far lives in the session, keyed by the entry and
the flow; the card step is the only page with script (static/js/consent-flow.js): it asks this server
for a challenge, gives its DigestInfo and the PIN to the local reader bridge, and posts back only the
certificate and the signature. The PIN is never sent here.
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
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from homeconsent import csp
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.registry.models import Person

from . import rules, services, telehealth
from .challenges import (
    challenge_for_page,
    check_issue_rate,
    client_ip,
    issue_challenge,
    read_card_answer,
    verify_card_authentication,
)
from .entry import entry_by_token, entry_for, entry_qr_svg, entry_url
from .models import Consent, ConsentEndedBy, ConsentItem

# The flows reachable from an entry, by URL segment: the consent kind they register (None: none).
FLOWS = {"home": "home_visit", "telehealth": "telehealth", "mine": None}
INQUIRY_KIND = "inquiry"
# How long a card proof opens the "your consents" pages.
# Short: the device may be a shared tablet handed to the next patient.
PROOF_LIFETIME = datetime.timedelta(minutes=3)
# How long the card step waits for the card to be placed on the reader.
CARD_WAIT_SECONDS = 60
# How far ahead a telehealth visit may be booked from this page.
VISIT_DATE_HORIZON = datetime.timedelta(days=90)

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
ITEM_LABELS[ConsentItem.QUALIFICATION] = _("Health insurance status: the insurance you belong to and your share of costs (always shared)")
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
LIMIT_NOT_ANSWERED = ErrorCode(
    "consent_limit_not_answered",
    "限度額の情報を提供するかどうか、「はい」か「いいえ」を選んでください。",
    "Choose yes or no: do you share your limit on medical costs (限度額)?",
)
END_CHOICE_MISSING = ErrorCode(
    "consent_end_choice_missing",
    "同意の期間を選んでください。",
    "Choose how long the consent lasts.",
)
END_DATE_INVALID = ErrorCode(
    "consent_end_date_invalid",
    "終了日は、今日から{latest}までの日付を選んでください。",
    "Choose an end date from today up to {latest}.",
)
VISIT_DATE_MISSING = ErrorCode(
    "visit_date_missing",
    "オンライン診療の日を選んでください。",
    "Choose the date of your telehealth visit.",
)
VISIT_DATE_LOCKED = ErrorCode(
    "visit_date_locked",
    "診療日は、オンライン診療のアプリで予約した日（{visit_date}）です。ここでは変えられません。日を変えるときは、アプリで予約を変えてください。",
    "Your visit date is the day booked in the telehealth app ({visit_date}). It cannot be changed here; "
    "to change it, change the booking in the app.",
)
VISIT_DATE_INVALID = ErrorCode(
    "visit_date_invalid",
    "オンライン診療の日を、今日から{latest}までの日付で選んでください。",
    "Choose the date of your telehealth visit: today or a later day up to {latest}.",
)


# --- helpers -------------------------------------------------------------------------------------
def content_security_policy(form_targets=()) -> str:
    return csp.policy(bridge=True, form_targets=form_targets)


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
    response["Cache-Control"] = "no-store"
    return response


def not_found(request):
    return page(request, "consent/entry_not_found.html", {"code": ENTRY_NOT_FOUND.code}, status=404)


def _state_key(entry, kind):
    return f"consent.{entry.pk}.{kind}"


def _state(request, entry, kind) -> dict | None:
    state = request.session.get(_state_key(entry, kind))
    # A rotated token ends the flows started from the old one.
    if not state or state.get("token") != entry.token:
        return None
    return state


def _save_state(request, entry, kind, state):
    state["token"] = entry.token
    request.session[_state_key(entry, kind)] = state


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
    given = request.POST.get("step") or request.GET.get("step") or ""
    expected = proof.pop("step", "")
    request.session[_proof_key(entry)] = proof  # used or not, this step is spent
    return bool(expected) and constant_time_compare(given, expected)


def _problem_redirect(entry, code=SESSION_EXPIRED.code):
    return redirect("consent:problem", token=entry.token, code=code)


def _flow_step(request, token, kind, ready, *, any_flow=False):
    """The entry and this browser's state of one step of a flow, or the response saying why not.

    ready(state) tells whether the earlier steps were answered. Only the card step also serves the
    inquiry flow ("mine", whose FLOWS kind is None): any_flow.
    """
    entry = entry_by_token(token)
    if entry is None or kind not in FLOWS or (FLOWS[kind] is None and not any_flow):
        return None, None, not_found(request)
    state = _state(request, entry, kind)
    if state is None or not ready(state):
        return entry, None, _problem_redirect(entry, SESSION_EXPIRED.code)
    error = _app_session_error(state)
    if error is not None:
        return entry, None, _session_problem(request, error, state["app_session"])
    return entry, state, None


# The numbered steps of each flow, for the page title ("step 2 of 5"). An app's session that fixed the
# items asks them on one screen and skips the limit question.
FLOW_STEPS = {
    "home": ["about", "items", "limit", "confirm", "card"],
    "telehealth": ["about", "visit_date", "items", "limit", "confirm", "card"],
    "mine": ["about", "card"],
}


def _step_of_flow(kind, state, step):
    steps = [s for s in FLOW_STEPS.get(kind, []) if not (s == "limit" and "locked_items" in (state or {}))]
    return (steps.index(step) + 1, len(steps)) if step in steps else None


def _context(entry, kind=None, state=None, step_name=None, **extra):
    institution = entry.institution
    # In a telehealth app's session, "stop" ends the session and goes back to the app (_stop.html).
    app_session_id = (state or {}).get("app_session")
    return {
        "entry": entry, "institution": institution, "flow": kind, "app_session_id": app_session_id,
        "flow_step": _step_of_flow(kind, state, step_name), **extra,
    }


# The order items are listed in: insurance first, then as on the "what to share" screen.
ITEM_ORDER = [ConsentItem.QUALIFICATION, *(code for code, _l, _h in SHAREABLE_ITEMS), ConsentItem.LIMIT_CERTIFICATE]


def _items_summary(items):
    ordered = sorted(items, key=lambda item: ITEM_ORDER.index(item) if item in ITEM_ORDER else len(ITEM_ORDER))
    return [ITEM_LABELS.get(item, item) for item in ordered]


def _visit_date(state):
    value = state.get("visit_date")
    return datetime.date.fromisoformat(value) if value else None


def _available_until(state):
    value = state.get("available_until")
    return datetime.date.fromisoformat(value) if value else None


def _end_date_bounds(today):
    return today, rules.latest_end_date(today)


def _shareable(institution):
    # A qualification-only site (資格確認限定型) never receives medical information.
    return [] if institution.qualification_only else SHAREABLE_ITEMS


def _app_session(state):
    return telehealth.session_by_id(state["app_session"]) if state.get("app_session") else None


def _app_session_error(state) -> HomeConsentError | None:
    """Why the flow's telehealth app session can no longer be consented in (expired, stopped), or None."""
    if not state.get("app_session") or state.get("consent"):
        return None
    try:
        telehealth.check_session_open(telehealth.session_by_id(state["app_session"]))
    except HomeConsentError as error:
        return error
    return None


def _person(proof):
    return Person.objects.get(pk=proof["person"])


def _language():
    return (translation.get_language() or "ja")[:2]


# --- entry ---------------------------------------------------------------------------------------
@never_cache
def entry(request, token):
    entry = entry_by_token(token)
    if entry is None:
        return not_found(request)
    # On a shared device (the nurse's tablet) the next patient starts here: a card proof of the
    # previous one must not open "your consents" for them.
    request.session.pop(_proof_key(entry), None)
    # An app session that has ended must not hold up a telehealth consent started from here.
    telehealth_state = _state(request, entry, "telehealth")
    if telehealth_state and _app_session_error(telehealth_state) is not None:
        request.session.pop(_state_key(entry, "telehealth"), None)
    return page(request, "consent/entry.html", _context(entry))


def entry_qr(request, token):
    entry = entry_by_token(token)
    if entry is None:
        return not_found(request)
    url = entry_url(entry, request)
    response = HttpResponse(entry_qr_svg(url, scale=8, title=entry.institution.name), content_type="image/svg+xml")
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
        request, "consent/session_problem.html",
        {"problem": SESSION_PROBLEMS.get(error.code, error.code), "code": error.code, "return_href": return_href},
        status=404 if unknown else 410,
    )


def _known_app_session(session_id):
    """The session of an app still registered here (a revoked app's patients are not sent back to it)."""
    session = telehealth.session_by_id(session_id)
    if not session.app.active:
        raise telehealth.SESSION_UNKNOWN()
    return session


def _forget_app_flow(request, session):
    entry = entry_for(session.institution)
    state = _state(request, entry, "telehealth")
    if state and state.get("app_session") == session.session_id:
        request.session.pop(_state_key(entry, "telehealth"), None)


@never_cache
def app_session(request, session_id):
    """A telehealth app sent the patient here: the telehealth flow for its booked visit and items."""
    try:
        session = telehealth.session_by_id(session_id)
    except HomeConsentError as error:
        return _session_problem(request, error)
    try:
        telehealth.check_session_open(session)
    except HomeConsentError as error:
        return _session_problem(request, error, session.session_id)
    entry = entry_for(session.institution)
    _save_state(
        request, entry, "telehealth",
        {
            "app_session": session.session_id,
            "visit_date": session.visit_date.isoformat(),
            "locked_date": True,
            "locked_items": [i for i in session.items if i != ConsentItem.QUALIFICATION],
        },
    )
    return redirect("consent:about", token=entry.token, kind="telehealth")


@require_POST
def app_session_stop(request, session_id):
    """中止する in an app's session: the session ends as declined and the patient goes back to the app."""
    try:
        session = _known_app_session(session_id)
    except HomeConsentError as error:
        return _session_problem(request, error)
    session = telehealth.do_decline_session(session)
    _forget_app_flow(request, session)
    return redirect(telehealth.return_redirect_url(session))


@never_cache
def app_session_return(request, session_id):
    """Back to the app from a session that ended (expired, say), with the status it has now."""
    try:
        session = _known_app_session(session_id)
    except HomeConsentError as error:
        return _session_problem(request, error)
    _forget_app_flow(request, session)
    return redirect(telehealth.return_redirect_url(session))


# --- the consent flows ---------------------------------------------------------------------------
@never_cache
def about(request, token, kind):
    entry = entry_by_token(token)
    if entry is None or kind not in FLOWS:
        return not_found(request)
    # Starting a flow starts it afresh (a telehealth app session, if any, is kept).
    previous = _state(request, entry, kind) or {}
    state = {}
    if previous.get("app_session") and not previous.get("consent"):
        # Back at the start of an app's session that has ended: only the way back to the app helps.
        error = _app_session_error(previous)
        if error is not None:
            return _session_problem(request, error, previous["app_session"])
        state = {key: previous[key] for key in ("app_session", "visit_date", "locked_date", "locked_items") if key in previous}
    proof = _proof(request, entry)
    if request.GET.get("update") == "1" and proof and _take_step(request, entry, proof):
        state["update"] = True
        state["items"] = proof.get("items", [])
    # The update flow carries its items in its own state: the proof is not needed any more.
    request.session.pop(_proof_key(entry), None)
    _save_state(request, entry, kind, state)
    if kind == "mine":
        return page(request, "consent/mine_about.html", _context(entry, kind, state, "about"))
    if kind == "telehealth":
        # An app's booked date is shown there too, read-only, before the patient agrees to anything.
        next_url = reverse("consent:visit_date", args=[token])
    else:
        next_url = reverse("consent:items", args=[token, kind])
    return page(
        request, "consent/about.html", _context(entry, kind, state, "about", next_url=next_url, visit_date=_visit_date(state))
    )


@never_cache
@require_http_methods(["GET", "POST"])
def visit_date(request, token):
    kind = "telehealth"
    entry = entry_by_token(token)
    if entry is None:
        return not_found(request)
    state = _state(request, entry, kind)
    if state is None:
        return _problem_redirect(entry, SESSION_EXPIRED.code)
    app_error = _app_session_error(state)
    if app_error is not None:
        return _session_problem(request, app_error, state["app_session"])
    today = timezone.localdate(timezone=rules.TOKYO)
    latest = today + VISIT_DATE_HORIZON
    # The app fixed the date when it booked the visit: shown, never asked.
    locked = _visit_date(state) if state.get("locked_date") else None
    error = None
    # Never pre-filled with today: a patient pressing 次へ unchanged would consent for the wrong day.
    value = "" if locked else state.get("visit_date", "")
    if request.method == "POST":
        posted = request.POST.get("visit_date", "").strip()
        if locked:
            if posted and posted != locked.isoformat():
                error = VISIT_DATE_LOCKED(visit_date=date_format(locked, "DATE_FORMAT"))
        else:
            value = posted  # a refused date stays in the box, next to its message
            try:
                chosen = datetime.date.fromisoformat(posted) if posted else None
            except ValueError:
                chosen = False
            if chosen is None:
                error = VISIT_DATE_MISSING()
            elif chosen is False or not today <= chosen <= latest:
                error = VISIT_DATE_INVALID(latest=date_format(latest, "DATE_FORMAT"))
            else:
                state["visit_date"] = chosen.isoformat()
        if error is None:
            _save_state(request, entry, kind, state)
            return redirect("consent:items", token=token, kind=kind)
    return page(
        request,
        "consent/visit_date.html",
        _context(entry, kind, state, "visit_date", error=error, today=today, latest=latest, value=value, locked=locked),
        status=400 if error else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def items(request, token, kind):
    entry, state, refusal = _flow_step(request, token, kind, lambda state: kind != "telehealth" or state.get("visit_date"))
    if refusal:
        return refusal
    if "locked_items" in state:
        # The app booked the visit with these items: the patient agrees to them or stops here.
        if request.method == "POST":
            state["items"] = list(state["locked_items"])
            state["limit_answered"] = True
            _save_state(request, entry, kind, state)
            return redirect("consent:confirm", token=token, kind=kind)
        requested = _items_summary([ConsentItem.QUALIFICATION] + state["locked_items"])
        return page(request, "consent/items_requested.html", _context(entry, kind, state, "items", requested=requested))
    if request.method == "POST":
        chosen = [code for code, _label, _help in _shareable(entry.institution) if request.POST.get(code) == "yes"]
        state["items"] = chosen + [i for i in state.get("items", []) if i == ConsentItem.LIMIT_CERTIFICATE]
        _save_state(request, entry, kind, state)
        return redirect("consent:limit", token=token, kind=kind)
    selected = set(state.get("items", []))
    choices = [
        {"code": code, "label": label, "help": help_text, "checked": code in selected}
        for code, label, help_text in _shareable(entry.institution)
    ]
    return page(request, "consent/items.html", _context(entry, kind, state, "items", choices=choices))


@never_cache
@require_http_methods(["GET", "POST"])
def limit(request, token, kind):
    entry, state, refusal = _flow_step(request, token, kind, lambda state: "items" in state)
    if refusal:
        return refusal
    error = None
    if request.method == "POST":
        answer = request.POST.get("share_limit")
        if answer in ("yes", "no"):
            chosen = [i for i in state["items"] if i != ConsentItem.LIMIT_CERTIFICATE]
            if answer == "yes":
                chosen.append(ConsentItem.LIMIT_CERTIFICATE)
            state["items"] = chosen
            state["limit_answered"] = True
            _save_state(request, entry, kind, state)
            return redirect("consent:confirm", token=token, kind=kind)
        # Never a silent "no": the question is asked again, the earlier answers kept.
        error = LIMIT_NOT_ANSWERED()
    current = None
    if state.get("limit_answered") or state.get("update"):
        current = "yes" if ConsentItem.LIMIT_CERTIFICATE in state["items"] else "no"
    return page(
        request, "consent/limit.html", _context(entry, kind, state, "limit", error=error, current=current),
        status=400 if error else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request, token, kind):
    entry, state, refusal = _flow_step(request, token, kind, lambda state: state.get("limit_answered"))
    if refusal:
        return refusal
    # Home visits last while care continues; the institution may set an end date (issue 4). It is
    # chosen here, before the card, so the signed challenge binds it.
    today = timezone.localdate(timezone=rules.TOKYO)
    earliest, latest = _end_date_bounds(today)
    error = None
    until_choice = "date" if state.get("available_until") else "care"
    until_date = state.get("available_until") or ""
    if request.method == "POST":
        if kind == "home":
            until_choice = request.POST.get("until", "care")
            until_date = request.POST.get("until_date", "").strip()
            if until_choice == "care":
                state.pop("available_until", None)
            elif until_choice == "date":
                try:
                    chosen = datetime.date.fromisoformat(until_date)
                except ValueError:
                    chosen = None
                if chosen is None or not earliest <= chosen <= latest:
                    error = END_DATE_INVALID(latest=date_format(latest, "DATE_FORMAT"))
                else:
                    state["available_until"] = chosen.isoformat()
            else:
                error = END_CHOICE_MISSING()
        if error is None:
            _save_state(request, entry, kind, state)
            return redirect("consent:card", token=token, kind=kind)
    shared = [ConsentItem.QUALIFICATION] + state["items"]
    not_shared = [code for code, _l, _h in _shareable(entry.institution) if code not in state["items"]]
    if ConsentItem.LIMIT_CERTIFICATE not in state["items"]:
        not_shared.append(ConsentItem.LIMIT_CERTIFICATE)
    return page(
        request,
        "consent/confirm.html",
        _context(
            entry, kind, state, "confirm", shared=_items_summary(shared), not_shared=_items_summary(not_shared),
            visit_date=_visit_date(state), error=error, until_choice=until_choice, until_date=until_date,
            end_date_min=earliest.isoformat(), end_date_max=latest.isoformat(),
        ),
        status=400 if error else 200,
    )


@never_cache
def card(request, token, kind):
    entry, state, refusal = _flow_step(request, token, kind, lambda state: not FLOWS[kind] or state.get("limit_answered"), any_flow=True)
    if refusal:
        return refusal
    # Starting again in an app's session starts that session's flow, not the institution's page.
    if state.get("app_session"):
        start_again_url = reverse("consent:session", args=[state["app_session"]])
    else:
        start_again_url = reverse("consent:entry", args=[token])
    return page(
        request,
        "consent/card.html",
        _context(
            entry, kind, state, "card", start_again_url=start_again_url,
            bridge_url=f"ws://{settings.READER_BRIDGE_HOST}:{settings.READER_BRIDGE_PORT}",
            challenge_url=reverse("consent:challenge", args=[token, kind]),
            answer_url=reverse("consent:answer", args=[token, kind]),
            restart_url=reverse("consent:about", args=[token, kind]),
            card_wait=CARD_WAIT_SECONDS,
        ),
    )


def _json_problem(code, message=None, status=400):
    return JsonResponse({"problem": code, "message": str(message or "")}, status=status)


@require_POST
def challenge(request, token, kind):
    entry = entry_by_token(token)
    if entry is None or kind not in FLOWS:
        return _json_problem(SESSION_EXPIRED.code, status=404)
    state = _state(request, entry, kind)
    if state is None or (FLOWS[kind] and not state.get("limit_answered")):
        return _json_problem(SESSION_EXPIRED.code)
    # Said before the card and the PIN, not after them.
    app_error = _app_session_error(state)
    if app_error is not None:
        return _json_problem(app_error.code, app_error.message(_language()), status=410)
    try:
        # A public endpoint that writes a row: limited per client, entry URL and browser session.
        check_issue_rate(client_ip(request), entry=token, session=request.session.session_key)
    except HomeConsentError as error:
        response = _json_problem(error.code, error.message(_language()), status=429)
        response["Retry-After"] = str(error.params["retry_after"])
        return response
    try:
        if FLOWS[kind]:
            issued = services.issue_consent_challenge(
                entry.institution, kind=FLOWS[kind], items=[ConsentItem.QUALIFICATION, *state.get("items", [])],
                visit_date=_visit_date(state), available_until=_available_until(state),
                session=_app_session(state),
            )
        else:
            # Inquiry: the card proves who is asking; the signed kind keeps it from registering anything.
            issued = issue_challenge("consent", entry.institution, [], kind=INQUIRY_KIND)
    except HomeConsentError as error:
        return _json_problem(error.code, error.message(_language()))
    state["challenge"] = issued.pk
    _save_state(request, entry, kind, state)
    return JsonResponse(challenge_for_page(issued))


@require_POST
def answer(request, token, kind):
    entry = entry_by_token(token)
    if entry is None or kind not in FLOWS:
        return _json_problem(SESSION_EXPIRED.code, status=404)
    state = _state(request, entry, kind)
    if state is None or not state.get("challenge"):
        return _json_problem(SESSION_EXPIRED.code)
    try:
        challenge_id, certificate, signature = read_card_answer(request.body)
    except ValueError:
        return _json_problem("bad_request", _("The answer from the card could not be read. Please try again."))
    if challenge_id != state["challenge"]:
        return _json_problem(SESSION_EXPIRED.code)
    state.pop("challenge")
    _save_state(request, entry, kind, state)
    try:
        verified = verify_card_authentication(challenge_id, certificate, signature, "consent")
        if kind == "mine":
            if verified.challenge.kind != INQUIRY_KIND or verified.challenge.institution_id != entry.institution_id:
                return _json_problem(SESSION_EXPIRED.code)
            # A new session key with the proof: a key seen before the card answered cannot carry it.
            request.session.cycle_key()
            request.session[_proof_key(entry)] = {
                "token": entry.token,
                "person": verified.person.pk,
                "at": timezone.now().isoformat(),
            }
            return JsonResponse({"next": reverse("consent:mine", args=[token])})
        registered = services.do_register_consent(
            verified,
            kind=FLOWS[kind],
            items=[ConsentItem.QUALIFICATION, *state.get("items", [])],
            visit_date=_visit_date(state),
            available_until=_available_until(state),
            institution=entry.institution,
            session=_app_session(state),
        )
    except HomeConsentError as error:
        return _json_problem(error.code, error.message(_language()), status=403)
    state["consent"] = registered.pk
    _save_state(request, entry, kind, state)
    return JsonResponse({"next": reverse("consent:done", args=[token, kind])})


@never_cache
def done(request, token, kind):
    entry, state, refusal = _flow_step(request, token, kind, lambda state: state.get("consent"))
    if refusal:
        return refusal
    consent = Consent.objects.filter(pk=state["consent"]).first()
    if consent is None:
        return _problem_redirect(entry, SESSION_EXPIRED.code)
    return_url = None
    if state.get("app_session"):
        return_url = telehealth.return_redirect_url(telehealth.session_by_id(state["app_session"]))
    return page(
        request,
        "consent/done.html",
        _context(
            entry, kind, consent=consent, shared=_items_summary(consent.items), return_url=return_url,
            last_day=consent.last_day,
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
    return page(request, "consent/mine.html", _context(entry, "mine", rows=_consent_rows(consents), step=step))


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
    return page(request, "consent/cancel_all.html", _context(entry, "mine", rows=_consent_rows(consents), step=step))


# --- problems ------------------------------------------------------------------------------------
PAGE_PROBLEMS = {SESSION_EXPIRED.code}


@never_cache
def problem(request, token, code):
    entry = entry_by_token(token)
    if entry is None or code not in PAGE_PROBLEMS:
        return not_found(request)
    return page(request, "consent/problem.html", _context(entry, problem=code, code=code), status=410)
