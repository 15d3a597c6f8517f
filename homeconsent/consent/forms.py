"""The forms of the consent pages: one per question (flow, visit date, items, limit, confirm).

Each clean_* calls the domain rule (rules.py) and turns its coded refusal into a ValidationError with
the same code, so a page and the telehealth-app API refuse the same thing with the same code. The
codes of questions that have no rule behind them (an unanswered question) are declared here.
"""

import datetime

from django import forms
from django.utils.crypto import constant_time_compare

from homeconsent.errors import ErrorCode, HomeConsentError

from . import rules
from .models import ConsentItem, ConsentKind

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
FLOW_MISSING = ErrorCode(
    "consent_flow_missing",
    "どの同意の手続きを始めるかを選んでください。",
    "Choose which consent you want to give.",
)
# What a patient may choose to share, in the order the items screen asks (qualification always goes).
SHAREABLE = [ConsentItem.MEDICATION, ConsentItem.TREATMENT, ConsentItem.CHECKUP, ConsentItem.OPERATION]


def refusal(error: HomeConsentError) -> forms.ValidationError:
    """A rule's coded refusal as a form error: the same code, the message in the page's language."""
    return forms.ValidationError(error.message(), code=error.code)


def coded(error: ErrorCode, **params) -> forms.ValidationError:
    return refusal(error(**params))


class CodedForm(forms.Form):
    """A form whose first error is shown as {code, message}, as the pages print it."""

    def first_error(self):
        for errors in self.errors.as_data().values():
            for error in errors:
                return {"code": error.code or "invalid", "message": " ".join(error.messages)}
        return None


class FlowChoiceForm(CodedForm):
    """Which flow the about page starts (the URL's flow segment, posted back)."""

    flow = forms.ChoiceField(choices=[("home", "home"), ("telehealth", "telehealth")], required=False)

    def clean_flow(self):
        flow = self.cleaned_data.get("flow")
        if not flow:
            raise coded(FLOW_MISSING)
        return flow


class VisitDateForm(CodedForm):
    """The day of a telehealth visit: today up to rules.VISIT_DATE_HORIZON ahead."""

    visit_date = forms.CharField(required=False, strip=True)

    def __init__(self, *args, today: datetime.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_visit_date(self):
        value = self.cleaned_data.get("visit_date") or None
        try:
            return rules.clean_visit_date(ConsentKind.TELEHEALTH, value, on=self.today)
        except HomeConsentError as error:
            raise refusal(error) from None


class ItemsForm(CodedForm):
    """What the patient shares beyond qualification: one checkbox per item (value "yes")."""

    def __init__(self, *args, kind: str, institution, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.institution = kind, institution
        # Every item is a field, even at a qualification-only site (資格確認限定型), which is offered
        # none: a crafted post naming one is refused with its code (rules.clean_items), not dropped.
        for item in SHAREABLE:
            self.fields[item.value] = forms.BooleanField(required=False)

    def clean(self):
        cleaned = super().clean()
        chosen = [name for name in self.fields if cleaned.get(name)]
        try:
            items = rules.clean_items(self.kind, chosen, self.institution)
        except HomeConsentError as error:
            raise refusal(error) from None
        cleaned["items"] = [i for i in items if i != ConsentItem.QUALIFICATION]
        return cleaned


class LimitForm(CodedForm):
    """Whether the limit on medical costs (限度額) is shared: yes or no, never a silent default."""

    share_limit = forms.CharField(required=False)

    def clean_share_limit(self):
        answer = self.cleaned_data.get("share_limit")
        if answer not in ("yes", "no"):
            raise coded(LIMIT_NOT_ANSWERED)
        return answer == "yes"


class ConfirmForm(CodedForm):
    """How long a home-visit consent lasts: while care continues, or through a chosen day.

    Other kinds have nothing to choose here (a telehealth consent ends with its visit day).
    """

    until = forms.CharField(required=False)
    until_date = forms.CharField(required=False, strip=True)

    def __init__(self, *args, kind: str, today: datetime.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.today = kind, today

    def clean(self):
        cleaned = super().clean()
        cleaned["available_until"] = None
        if self.kind != ConsentKind.HOME_VISIT:
            return cleaned
        choice = cleaned.get("until") or "care"
        if choice == "care":
            return cleaned
        if choice != "date":
            raise coded(END_CHOICE_MISSING)
        try:
            day = datetime.date.fromisoformat(cleaned.get("until_date") or "")
        except ValueError:
            self.add_error(
                "until_date",
                coded(rules.AVAILABLE_UNTIL_UNREADABLE, **rules.latest_end_date_params(self.today)),
            )
            return cleaned
        try:
            rules.consent_until(self.kind, available_until=day, now=rules.start_of_day(self.today))
        except HomeConsentError as error:
            self.add_error("until_date", refusal(error))
            return cleaned
        cleaned["available_until"] = day
        return cleaned


class DraftKeyForm(forms.Form):
    """The draft a page's form or a card-step request was made for (draft=): a form shown for an
    earlier draft, another patient's or before starting again, must change nothing."""

    draft = forms.CharField(required=False, strip=False)

    def names(self, draft) -> bool:
        """Whether this names `draft` (compared in constant time: the key is the device's secret)."""
        given = self.cleaned_data["draft"] if self.is_valid() else ""
        return draft is not None and constant_time_compare(given, draft.key)


class InquiryStepForm(forms.Form):
    """The one-time step of the inquiry pages' links and forms (views._next_step, spent on use), and
    update=1: the link that changes what is shared, starting from the current consent's items."""

    step = forms.CharField(required=False, strip=False)
    update = forms.CharField(required=False)  # "1" only: a BooleanField's checkbox reads "0" as ticked

    def clean_update(self):
        return self.cleaned_data.get("update") == "1"

    def given_step(self) -> str:
        return self.cleaned_data["step"] if self.is_valid() else ""

    def asks_update(self) -> bool:
        return self.is_valid() and self.cleaned_data["update"]
