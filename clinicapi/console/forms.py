"""The console's forms: sign-in, TOTP, enrolment, staff, API-client registration, end date.

Each form cleans its input with the domain's own rule (homeconsent.accounts.services,
clinicapi.auth, homeconsent.consent.rules) and turns the rule's coded refusal into a ValidationError
with the same code; `refusal` keeps the first one, for the page's error paragraph (code, message,
the inputs it is about) and for what it carries (a rate limit's retry_after). The views then call
the do_* service, which checks again inside its transaction.
"""

import datetime

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from clinicapi import auth as api_auth
from homeconsent.accounts import services as accounts
from homeconsent.accounts.models import StaffMembership, StaffRole
from homeconsent.consent import rules
from homeconsent.consent.models import ConsentKind
from homeconsent.dates import QUERY_MAX, QUERY_MIN, query_date
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.registry.validation import RegistryValidationError, clean_search_keys

from . import reads

END_DATE_INVALID = ErrorCode("console_end_date_invalid", "日付を選んでください。", "Choose a date.")
NOT_VALID = ErrorCode("bad_request", "正しくありません。", "Not valid.")
CONFIRM_REQUIRED = ErrorCode(
    "console_confirm_required",
    "確認のチェックを入れてから、もう一度押してください。",
    "Tick the box to confirm, then press the button again.",
)


class CodedForm(forms.Form):
    """A form whose refusals are the domain's coded errors."""

    refusal: HomeConsentError | None = None

    def refuse(self, exc: HomeConsentError, field: str | None = None):
        """Record the first refusal and put it on `field` (None: the whole form)."""
        if self.refusal is None:
            self.refusal = exc
        self.add_error(field, forms.ValidationError(exc.message(), code=exc.code))

    def coded(self, rule, *args, field=None, **kwargs):
        """Run one domain rule; its refusal becomes this form's. Returns the rule's result or None."""
        try:
            return rule(*args, **kwargs)
        except HomeConsentError as exc:
            self.refuse(exc, field)
            return None

    def checked(self) -> dict:
        """The cleaned data, or the refusal raised (a HomeConsentError, coded)."""
        if self.is_valid():
            return self.cleaned_data
        raise self.refusal or NOT_VALID()


def _text(**kwargs):
    return forms.CharField(required=False, strip=False, **kwargs)


# --- signing in ------------------------------------------------------------------------------------
class SigninForm(CodedForm):
    """Step 1: user name and password. Counts against the address's rate and the account's lockout."""

    username = _text()
    password = _text()

    def __init__(self, data=None, *, client_ip: str):
        super().__init__(data)
        self.client_ip = client_ip

    def clean(self):
        data = super().clean()
        self.coded(accounts.check_signin_rate, self.client_ip)
        if self.refusal is not None:
            return data
        data["membership"] = self.coded(
            accounts.check_password, data.get("username", ""), data.get("password", "")
        )
        return data


class SigninCodeForm(CodedForm):
    """Step 2: the code of the account's authenticator app."""

    code = _text()

    def __init__(self, data=None, *, membership: StaffMembership, client_ip: str):
        super().__init__(data)
        self.membership, self.client_ip = membership, client_ip

    def clean(self):
        data = super().clean()
        self.coded(accounts.check_signin_rate, self.client_ip)
        if self.refusal is None:
            data["device"] = self.coded(accounts.check_code, self.membership, data.get("code", ""))
        return data


# --- the paper eligibility certificate (資格確認書) -------------------------------------------------------
PAPER_KEY_FIELDS = ("insurer_number", "symbol", "number", "branch", "birth_date")


class PaperCertificateForm(CodedForm):
    """The keys printed on a 資格確認書, checked by registry.validation (check digit, 枝番, a real past
    birth date) with its codes, each on its own input."""

    insurer_number = _text()
    symbol = _text()
    number = _text()
    branch = _text()
    birth_date = _text()

    def clean(self):
        data = super().clean()
        try:
            data["keys"] = clean_search_keys(*(data.get(name, "") for name in PAPER_KEY_FIELDS))
        except RegistryValidationError as exc:
            for problem in exc.errors:
                self.refuse(problem.error, problem.field if problem.field in self.fields else None)
        return data

    def fields_refused(self) -> list[str]:
        """The inputs with a problem, in the page's order (the first gets focus)."""
        return [name for name in PAPER_KEY_FIELDS if name in self.errors]


# --- enrolment -------------------------------------------------------------------------------------
class EnrolmentForm(CodedForm):
    """A new password, typed twice, that Django's validators accept."""

    password = _text()
    password_again = _text()

    def __init__(self, data=None, *, user):
        super().__init__(data)
        self.user = user

    def clean(self):
        data = super().clean()
        self.coded(
            accounts.check_new_password, self.user, data.get("password", ""), data.get("password_again", "")
        )
        return data


class TotpForm(CodedForm):
    """The first code the app shows; whether it is the right one is do_confirm_enrolment's check."""

    code = _text()

    def __init__(self, data=None, *, digits: int):
        super().__init__(data)
        self.digits = digits

    def clean_code(self):
        return (
            self.coded(accounts.clean_totp_code, self.cleaned_data.get("code", ""), self.digits, field="code")
            or ""
        )


# --- staff -----------------------------------------------------------------------------------------
class StaffForm(CodedForm):
    """A new staff account of this institution: its user name and role."""

    username = _text()
    role = _text()

    def clean_username(self):
        return self.coded(
            accounts.clean_new_username, self.cleaned_data.get("username", ""), field="username"
        )

    def clean_role(self):
        role = self.cleaned_data.get("role") or StaffRole.STAFF
        if role not in StaffRole.values:
            self.refuse(NOT_VALID(), "role")
        return role


class StaffActionForm(forms.Form):
    """Which of the staff page's two forms was sent: a new account (the default) or a new link."""

    action = forms.ChoiceField(choices=[("create", "create"), ("relink", "relink")], required=False)

    def relink(self) -> bool:
        return self.is_valid() and self.cleaned_data["action"] == "relink"


class RelinkForm(CodedForm):
    """A new enrolment link for one staff member of this institution."""

    membership = _text()

    def __init__(self, data=None, *, institution):
        super().__init__(data)
        self.institution = institution

    def clean_membership(self):
        value = self.cleaned_data.get("membership", "")
        member = None
        if value.strip().isdigit():
            member = (
                StaffMembership.objects.filter(pk=int(value), institution=self.institution)
                .select_related("user")
                .first()
            )
        if member is None:
            self.refuse(NOT_VALID(), "membership")
        return member


# --- API clients -----------------------------------------------------------------------------------
class ApiClientForm(CodedForm):
    """An institution system to register: its name, public keys (JWKS or PEM) and scopes, checked in
    that order by clinicapi.auth's rules (one refusal at a time, as the page shows one)."""

    name = _text()
    jwks = _text()
    # Any value reaches the rule (no choices here), which names an unknown scope with its own code.
    scope = forms.Field(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, data=None, *, institution):
        super().__init__(data)
        self.institution = institution

    def clean(self):
        data = super().clean()
        for field, rule, args in (
            ("name", api_auth.clean_client_name, (data.get("name", ""),)),
            ("jwks", api_auth.public_jwks, (data.get("jwks", ""),)),
            ("scope", api_auth.checked_scopes, (self.institution, data.get("scope") or [])),
        ):
            result = self.coded(rule, *args, field=field)
            if self.refusal is not None:
                break
            data[f"{field}_checked"] = result
        return data


# --- confirmations and notices ---------------------------------------------------------------------
class ConfirmForm(CodedForm):
    """The tick box that confirms a step which cannot be undone (confirm=yes)."""

    confirm = _text()

    def clean_confirm(self):
        if self.cleaned_data.get("confirm") != "yes":
            self.refuse(CONFIRM_REQUIRED(), "confirm")
        return True


class EntryNoticeForm(forms.Form):
    """?rotated=1 after the entry URL was replaced: the page says the old URL no longer works."""

    rotated = forms.CharField(required=False)  # "1" only: a BooleanField's checkbox reads "0" as ticked

    def clean_rotated(self):
        return self.cleaned_data.get("rotated") == "1"

    def rotated_notice(self) -> bool:
        return self.is_valid() and self.cleaned_data["rotated"]


# --- the board's catch-up --------------------------------------------------------------------------
class EventsSinceForm(CodedForm):
    """?since= of the board's catch-up: an ISO time within the site's query range (a naive one is UTC),
    else reads.EVENTS_SINCE_INVALID; none given is every recent event."""

    since = _text()

    def clean_since(self):
        value = self.cleaned_data.get("since", "")
        if not value:
            return None
        try:
            since = parse_datetime(value)
        except ValueError:  # well formed but no such time (month 13)
            since = None
        if since is None or not QUERY_MIN <= since.date() <= QUERY_MAX:
            self.refuse(reads.EVENTS_SINCE_INVALID(), "since")
            return None
        return timezone.make_aware(since, datetime.UTC) if timezone.is_naive(since) else since


# --- the end date of a home-visit consent ----------------------------------------------------------
class EndDateForm(CodedForm):
    """The day a home-visit consent ends (inclusive): a real date, ahead, within the five-year
    horizon (consent.rules); that it comes earlier than the current end is the service's check."""

    until = _text()

    def clean_until(self):
        value = self.cleaned_data.get("until", "").strip()
        try:
            until = parse_date(value) if value else None
        except ValueError:  # well-formed but no such day (2026-02-30)
            until = None
        if not isinstance(until, datetime.date):
            self.refuse(END_DATE_INVALID(), "until")
            return None
        self.coded(rules.consent_until, ConsentKind.HOME_VISIT, available_until=until, field="until")
        return until


# --- the consented-patients list and search --------------------------------------------------------
LIST_STATUSES = ("in_force", "ended", "all")


class PatientFilterForm(CodedForm):
    """GET /console/patients/: kind, status, date ranges, and an optional name or kana search
    (reads.clean_search_query: its code, console_search_query_invalid, is kept). An unknown kind or
    status falls back to the default, as a hand-edited URL should; a refused input is reported and
    the others still apply."""

    kind = _text()
    status = _text()
    given_from = _text()
    given_to = _text()
    visit_from = _text()
    visit_to = _text()
    q = _text()

    def clean_kind(self):
        kind = self.cleaned_data.get("kind", "")
        return kind if kind in reads.LISTED_KINDS else ""

    def clean_status(self):
        status = self.cleaned_data.get("status", "")
        return status if status in LIST_STATUSES else "in_force"

    def _day(self, name):
        value = self.cleaned_data.get(name, "").strip()
        if not value:
            return None
        try:  # the site's one date rule: date_invalid, date_out_of_range (homeconsent.dates)
            return query_date(value, name)
        except HomeConsentError as error:
            self.refuse(error, name)
        return None

    def clean_given_from(self):
        return self._day("given_from")

    def clean_given_to(self):
        return self._day("given_to")

    def clean_visit_from(self):
        return self._day("visit_from")

    def clean_visit_to(self):
        return self._day("visit_to")

    def clean_q(self):
        text = self.cleaned_data.get("q", "").strip()
        return (self.coded(reads.clean_search_query, text, field="q") or "") if text else ""

    def filters(self) -> dict:
        """The valid date filters (a refused one is left out, and its refusal shown)."""
        data = getattr(self, "cleaned_data", {})
        return {name: data.get(name) for name in ("given_from", "given_to", "visit_from", "visit_to")}

    def first_error(self) -> dict | None:
        if self.refusal is None:
            return None
        fields = [name for name, errors in self.errors.items() if name != "__all__"]
        return {"code": self.refusal.code, "message": self.refusal.message(), "fields": tuple(fields[:1])}
