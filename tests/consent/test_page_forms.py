"""The consent pages' hidden inputs go through forms: the draft a form was shown for, and the
inquiry pages' one-time step and update switch."""

import types

import pytest
from django.http import QueryDict

from homeconsent.consent.forms import DraftKeyForm, InquiryStepForm

DRAFT = types.SimpleNamespace(key="k-3f9a")


def sent(**fields) -> QueryDict:
    data = QueryDict(mutable=True)
    data.update(fields)
    return data


@pytest.mark.parametrize(
    "fields,names", [({"draft": "k-3f9a"}, True), ({"draft": "k-other"}, False), ({}, False)]
)
def test_a_form_counts_only_for_the_draft_it_was_shown_for(fields, names):
    assert DraftKeyForm(sent(**fields)).names(DRAFT) is names


def test_no_draft_is_named_when_the_device_has_none():
    assert DraftKeyForm(sent(draft="")).names(None) is False


@pytest.mark.parametrize("fields,update", [({"update": "1"}, True), ({"update": "0"}, False), ({}, False)])
def test_only_update_1_asks_to_change_what_is_shared(fields, update):
    assert InquiryStepForm(sent(**fields)).asks_update() is update


def test_the_step_is_passed_on_as_sent():
    assert InquiryStepForm(sent(step=" a-b_c ")).given_step() == " a-b_c "
    assert InquiryStepForm(sent()).given_step() == ""
