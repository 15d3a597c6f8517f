"""The portal's inputs as Django Forms: the filters of the medicines, expenses and access-history pages,
and the insurance details of 健康保険証利用登録. Each clean_* calls the rule that owns the input and keeps
its error code, so the page shows the same coded message as every other refusal."""

import datetime

from django import forms
from django.utils.translation import gettext_lazy

from homeconsent.audit.models import Basis
from homeconsent.dates import query_date, query_year
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.registry.models import MedicationSource
from homeconsent.registry.validation import RegistryValidationError, clean_search_keys

FILTER_RANGE_REVERSED = ErrorCode(
    "portal_filter_range_reversed",
    "「いつまで」は「いつから」と同じ日か、それより後の日にしてください。",
    "The “to” date must be the same as or after the “from” date.",
)
FILTER_YEAR_UNKNOWN = ErrorCode(
    "portal_filter_year_unknown",
    "その年の医療費通知はありません。一覧から年を選んでください。",
    "There are no medical expense notices for that year. Choose a year from the list.",
)
QUERY_MAX = 100


def coded(error: HomeConsentError) -> forms.ValidationError:
    """A domain refusal as a form error with the same code and the message in the page's language."""
    validation_error = forms.ValidationError(error.message(), code=error.code)
    validation_error.refusal = error  # kept for answers that are not the page (the CSV downloads)
    return validation_error


def first_refusal(form) -> HomeConsentError | None:
    """The first refusal of a bound form as the domain error it came from."""
    for errors in form.errors.as_data().values():
        return getattr(errors[0], "refusal", None)
    return None


def first_error(form) -> dict | None:
    """The first refusal of a bound form, shaped like every coded error on the pages."""
    for name, errors in form.errors.as_data().items():
        error = errors[0]
        return {"code": error.code or "invalid", "message": " ".join(error.messages), "field": name}
    return None


def clean_filter_date(value, name) -> datetime.date | None:
    """A filter's day (YYYY-MM-DD), or None when left empty; the site's one date rule (homeconsent.dates:
    date_invalid, date_out_of_range) otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    return query_date(value, name)


class MedicationFilterForm(forms.Form):
    q = forms.CharField(required=False, strip=True)
    source = forms.CharField(required=False)

    def clean_q(self):
        return self.cleaned_data.get("q", "")[:QUERY_MAX]

    def clean_source(self):
        source = self.cleaned_data.get("source", "")
        return source if source in MedicationSource.values else ""


class ExpenseYearForm(forms.Form):
    """?year= among the years that have notices; none given: the latest."""

    year = forms.CharField(required=False)

    def __init__(self, data, years):
        super().__init__(data)
        self.years = list(years)

    def clean_year(self):
        text = (self.cleaned_data.get("year") or "").strip()
        if not text:
            return self.years[0] if self.years else None
        try:
            year = query_year(text, "year")
        except HomeConsentError as error:
            raise coded(error) from None
        if year not in self.years:
            raise coded(FILTER_YEAR_UNKNOWN())
        return int(text)

    def chosen_year(self):
        if self.is_valid():
            return self.cleaned_data["year"]
        return self.years[0] if self.years else None


class AccessHistoryForm(forms.Form):
    """The access-history filters: a range of Tokyo days, an institution code, a basis, own views."""

    # "from" is a Python keyword: the fields are date_from / date_to and read ?from= / ?to=.
    date_from = forms.CharField(required=False)
    date_to = forms.CharField(required=False)
    institution = forms.CharField(required=False, strip=True)
    basis = forms.CharField(required=False)
    own = forms.CharField(required=False)

    def __init__(self, data):
        data = data.copy()
        data["date_from"], data["date_to"] = data.get("from", ""), data.get("to", "")
        super().__init__(data)

    def clean_date_from(self):
        try:
            return clean_filter_date(self.cleaned_data.get("date_from"), "from")
        except HomeConsentError as error:
            raise coded(error) from None

    def clean_date_to(self):
        try:
            return clean_filter_date(self.cleaned_data.get("date_to"), "to")
        except HomeConsentError as error:
            raise coded(error) from None

    def clean_institution(self):
        return self.cleaned_data.get("institution", "")[:10]

    def clean_basis(self):
        basis = self.cleaned_data.get("basis", "")
        return basis if basis in Basis.values else ""

    def clean_own(self):
        return self.cleaned_data.get("own") == "1"

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", coded(FILTER_RANGE_REVERSED()))
        return data

    def value(self, name, default=None):
        """A cleaned value, or the default when that input was refused (the rest still apply)."""
        return getattr(self, "cleaned_data", {}).get(name, default)


REGISTRATION_FIELDS = ("insurer_number", "symbol", "number", "branch", "birth_date")
REGISTRATION_LABELS = {
    "insurer_number": gettext_lazy("Insurer number (保険者番号)"),
    "symbol": gettext_lazy("Symbol (記号)"),
    "number": gettext_lazy("Number (番号)"),
    "branch": gettext_lazy("Branch number (枝番)"),
    "birth_date": gettext_lazy("Birth date"),
}


class RegistrationForm(forms.Form):
    """健康保険証利用登録's insurance details, checked by the registry's own rule for search keys
    (registry.validation.clean_search_keys): each refused field keeps that rule's code."""

    insurer_number = forms.CharField(required=False, strip=True, max_length=40)
    symbol = forms.CharField(required=False, strip=True, max_length=40)
    number = forms.CharField(required=False, strip=True, max_length=40)
    branch = forms.CharField(required=False, strip=True, max_length=40)
    birth_date = forms.CharField(required=False, strip=True, max_length=40)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            clean_search_keys(*(data.get(name, "") for name in REGISTRATION_FIELDS))
        except RegistryValidationError as refused:
            for problem in refused.errors:
                error = problem.error
                if "field" in error.params:  # name the field as the page labels it, not its code name
                    error = HomeConsentError(
                        error.error, {**error.params, "field": REGISTRATION_LABELS[problem.field]}
                    )
                self.add_error(problem.field if problem.field in self.fields else None, coded(error))
        return data

    def typed(self) -> dict:
        """What was typed, for a refused form to show again (trimmed, as long as a field may be)."""
        return {name: (self[name].value() or "").strip()[:40] for name in REGISTRATION_FIELDS}

    def values(self) -> dict:
        """What goes to the card step (kept in the session as typed, the registration checks again)."""
        return {name: self.cleaned_data.get(name, "") for name in REGISTRATION_FIELDS}


class LinkRemovalForm(forms.Form):
    """Which authentication-app link (its id) the patient removes; identity.do_remove_link checks
    that it is this person's."""

    link = forms.IntegerField(required=False)

    def link_id(self) -> int | None:
        return self.cleaned_data["link"] if self.is_valid() else None
