"""The console's forms refuse with the domain's own codes: each clean step runs the rule of
homeconsent.accounts, clinicapi.auth or consent.rules, and the ValidationError carries its code."""

import datetime

import pytest
from django.http import QueryDict

from clinicapi.console import forms
from homeconsent.consent import rules


def post(**fields) -> QueryDict:
    data = QueryDict(mutable=True)
    for name, value in fields.items():
        data.setlist(name, value if isinstance(value, list) else [value])
    return data


def codes(form) -> dict:
    assert not form.is_valid()
    return {field: [e.code for e in errors] for field, errors in form.errors.as_data().items()}


@pytest.mark.parametrize(
    "until,code",
    [
        ("", "console_end_date_invalid"),
        ("2026-02-30", "console_end_date_invalid"),
        ("not a date", "console_end_date_invalid"),
        # Days relative to today are worked out when the test runs, not when it is collected
        # (a run collected before Tokyo midnight and run after it would be a day off).
        (lambda: (rules.today() - datetime.timedelta(days=1)).isoformat(), "available_until_past"),
        (
            lambda: (rules.latest_end_date() + datetime.timedelta(days=1)).isoformat(),
            "available_until_too_far",
        ),
    ],
)
def test_an_end_date_is_refused_with_the_consent_rules_code(until, code):
    form = forms.EndDateForm(post(until=until() if callable(until) else until))

    assert codes(form) == {"until": [code]}
    assert form.refusal.code == code


def test_an_end_date_within_the_horizon_is_clean():
    day = rules.today() + datetime.timedelta(days=30)

    form = forms.EndDateForm(post(until=day.isoformat()))

    assert form.is_valid() and form.cleaned_data["until"] == day


@pytest.mark.parametrize(
    "fields,expected",
    [
        ({"username": "two words"}, {"username": ["console_username_invalid"]}),
        ({"username": ""}, {"username": ["console_username_invalid"]}),
        ({"username": "taken"}, {"username": ["console_username_taken"]}),
        ({"username": "fresh", "role": "owner"}, {"role": ["bad_request"]}),
    ],
)
def test_a_new_staff_account_is_refused_with_the_account_rules_code(
    make_staff, institution, fields, expected
):
    make_staff(institution, "taken")

    assert codes(forms.StaffForm(post(**fields))) == expected


def test_a_staff_member_of_another_institution_gets_no_new_link(make_staff, institution, other_institution):
    stranger = make_staff(other_institution, "stranger")

    form = forms.RelinkForm(post(membership=str(stranger.membership.pk)), institution=institution)

    assert codes(form) == {"membership": ["bad_request"]}


@pytest.mark.parametrize(
    "password,again,code",
    [
        ("Kakitsubata-2026!", "Kakitsubata-2026?", "console_passwords_differ"),
        ("1234", "1234", "console_password_weak"),
    ],
)
def test_a_new_password_is_refused_with_the_account_rules_code(
    make_staff, institution, password, again, code
):
    user = make_staff(institution, "nurse").membership.user

    form = forms.EnrolmentForm(post(password=password, password_again=again), user=user)

    assert codes(form) == {"__all__": [code]}


@pytest.mark.parametrize("code", ["", "12345", "12345a", "1234567"])
def test_a_totp_code_not_of_six_digits_is_refused_before_the_device_is_asked(code):
    assert codes(forms.TotpForm(post(code=code), digits=6)) == {"code": ["console_enrolment_code_wrong"]}


@pytest.mark.parametrize(
    "fields,expected",
    [
        ({"name": " ", "jwks": "{}", "scope": ["qualification.read"]}, {"name": ["client_name_missing"]}),
        ({"name": "EHR", "jwks": "not json", "scope": ["qualification.read"]}, {"jwks": ["jwks_invalid"]}),
        ({"name": "EHR", "jwks": "PEM", "scope": ["no.such.scope"]}, {"scope": ["scope_unknown"]}),
        ({"name": "EHR", "jwks": "PEM", "scope": []}, {"scope": ["scope_none_given"]}),
    ],
)
def test_an_api_client_is_refused_with_the_api_rules_code_one_at_a_time(institution, fields, expected):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if fields["jwks"] == "PEM":
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        fields = {
            **fields,
            "jwks": key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode(),
        }

    assert codes(forms.ApiClientForm(post(**fields), institution=institution)) == expected


# --- the pages' small switches, cleaned by forms too -------------------------------------------------
@pytest.mark.parametrize("since", ["yesterday", "2026-13-01T00:00:00", "0001-01-01T00:00:00"])
def test_a_catch_up_time_that_cannot_be_used_is_refused_with_its_code(since):
    form = forms.EventsSinceForm(post(since=since))

    assert codes(form) == {"since": ["console_events_since_invalid"]}


def test_a_catch_up_time_without_a_zone_is_read_as_utc():
    form = forms.EventsSinceForm(post(since="2026-12-07T09:30:00"))

    assert form.checked()["since"] == datetime.datetime(2026, 12, 7, 9, 30, tzinfo=datetime.UTC)


def test_no_catch_up_time_asks_for_every_recent_event():
    assert forms.EventsSinceForm(post()).checked()["since"] is None


@pytest.mark.parametrize("confirm", ["", "no", "on"])
def test_a_step_not_confirmed_is_refused_with_its_code(confirm):
    form = forms.ConfirmForm(post(confirm=confirm))

    assert codes(form) == {"confirm": ["console_confirm_required"]}
    assert form.refusal.code == "console_confirm_required"


def test_a_ticked_confirmation_is_clean():
    assert forms.ConfirmForm(post(confirm="yes")).is_valid()


@pytest.mark.parametrize("fields,rotated", [({"rotated": "1"}, True), ({"rotated": "0"}, False), ({}, False)])
def test_the_entry_page_says_the_url_was_replaced_only_when_asked(fields, rotated):
    assert forms.EntryNoticeForm(post(**fields)).rotated_notice() is rotated


@pytest.mark.parametrize(
    "fields,relink", [({"action": "relink"}, True), ({}, False), ({"action": "something else"}, False)]
)
def test_the_staff_page_makes_a_new_link_only_when_that_button_was_pressed(fields, relink):
    assert forms.StaffActionForm(post(**fields)).relink() is relink
