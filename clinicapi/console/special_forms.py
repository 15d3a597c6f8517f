"""The 救急時 / 災害時 search form: the reason, then the search of the chosen method, each cleaned by the
domain's own rule (homeconsent.special_access.services.clean_reason / clean_search) with its code."""

import base64
import binascii

from django import forms

from homeconsent.accounts.models import StaffMembership
from homeconsent.special_access import services
from homeconsent.special_access.models import SearchMethod

from .forms import CodedForm

SEARCH_FIELDS = ("name", "birth_date", "sex", "address", "insurer_number", "symbol", "number", "branch")


class SpecialSearchForm(CodedForm):
    reason = forms.CharField(required=False)
    reason_text = forms.CharField(required=False)
    method = forms.CharField(required=False)
    keys_birth_date = forms.CharField(required=False)  # the insurer keys' own birth date field
    certificate = forms.CharField(required=False)  # base64 DER, read by the page from the bridge

    def __init__(self, *args, basis, **kwargs):
        super().__init__(*args, **kwargs)
        self.basis = basis
        for name in SEARCH_FIELDS:
            self.fields[name] = forms.CharField(required=False)

    def clean(self):
        data = super().clean()
        reason = self.coded(
            services.clean_reason, self.basis, data.get("reason"), data.get("reason_text"), field="reason"
        )
        if reason is not None:
            data["reason"], data["reason_text"] = reason
        given = {name: data.get(name, "") for name in SEARCH_FIELDS}
        method = data.get("method", "")
        if method == SearchMethod.INSURER_KEYS:
            given["birth_date"] = data.get("keys_birth_date", "")
        if method == SearchMethod.CARD and data.get("certificate"):
            try:
                given["certificate_der"] = base64.b64decode(data["certificate"], validate=True)
            except (binascii.Error, ValueError):
                given["certificate_der"] = b"\x00"  # refused by the card check as a malformed certificate
        data["search"] = self.coded(services.clean_search, method, given)
        return data


class SpecialItemForm(forms.Form):
    """?item= of a viewing page: one detail item (none: the summary). Which items a basis shows is the
    service's rule (services.view refuses another with special_access_item_not_shown, and logs it)."""

    item = forms.CharField(required=False, strip=False)

    def item_or_none(self) -> str | None:
        return (self.cleaned_data["item"] or None) if self.is_valid() else None


class PermissionForm(forms.Form):
    """The emergency-permission page's row buttons: whose permission, granted (default) or revoked."""

    membership = forms.IntegerField(required=False, min_value=1)
    action = forms.ChoiceField(choices=[("grant", "grant"), ("revoke", "revoke")], required=False)

    def member(self, institution):
        """The staff member of this institution the button is about, or None."""
        if not self.is_valid() or self.cleaned_data["membership"] is None:
            return None
        found = StaffMembership.objects.filter(pk=self.cleaned_data["membership"], institution=institution)
        return found.select_related("user", "institution").first()

    def revoke(self) -> bool:
        return self.cleaned_data.get("action") == "revoke"
