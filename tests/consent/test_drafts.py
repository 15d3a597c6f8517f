"""The consent flow as one server-side draft: frozen draft signed only, done terminal, next patient ends
earlier drafts (issue 12 item 1), and the step forms refusing with the rules' codes (issue 10 item 3)."""

import datetime

import pytest
from django.urls import reverse

from homeconsent.consent import drafts, forms, rules
from homeconsent.consent.entry import entry_for
from homeconsent.consent.models import Consent, ConsentDraft, DraftStatus
from homeconsent.errors import HomeConsentError

from .conftest import prove
from .test_pages import (  # noqa: F401
    card_answer,
    card_key,
    page_pki,
    person,
    post_json,
    trusted,
    url,
    walk_to_card,
)

DEVICE = "tablet-1"


def refused(code, call, *args, **kwargs):
    with pytest.raises(HomeConsentError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code
    return caught.value


def confirmed(institution, device=DEVICE, items=("medication",)):
    draft = drafts.do_start_draft(device, institution, "home")
    draft = drafts.do_set_items(draft, items)
    draft = drafts.do_set_limit(draft, False)
    return drafts.do_confirm_draft(draft)


# --- the card signs only the frozen draft ----------------------------------------------------------
def test_a_draft_not_yet_confirmed_gets_no_challenge(institution):
    # given a draft with items chosen but not confirmed
    draft = drafts.do_set_items(drafts.do_start_draft(DEVICE, institution, "home"), ["medication"])
    # when the card step asks for a challenge, then it is refused
    refused("consent_draft_not_confirmed", drafts.do_issue_draft_challenge, draft)
    assert not ConsentDraft.objects.filter(challenge__isnull=False).exists()


def test_the_challenge_binds_exactly_the_frozen_terms(institution):
    draft = confirmed(institution, items=("medication", "checkup"))
    challenge = drafts.do_issue_draft_challenge(draft)
    assert challenge.items == ["checkup", "medication", "qualification"] and challenge.kind == "home_visit"
    assert ConsentDraft.objects.get(pk=draft.pk).challenge == challenge


def test_a_change_after_the_challenge_makes_that_challenge_register_nothing(institution, patient):
    # given a confirmed draft whose challenge the card is about to sign
    draft = confirmed(institution)
    challenge = drafts.do_issue_draft_challenge(draft)
    # when the choices change (another tab, Back) before the card answers
    changed = drafts.do_set_items(draft, ["treatment"])
    assert changed.status == DraftStatus.OPEN and changed.challenge is None
    # then the signed answer to the old challenge registers nothing
    verified = prove(patient, challenge)
    refused("consent_draft_not_confirmed", drafts.do_register_consent_from_draft, changed, verified)
    assert not Consent.objects.exists()


def test_the_frozen_draft_is_registered_as_confirmed(institution, patient):
    draft = confirmed(institution, items=("medication",))
    consent = drafts.do_register_consent_from_draft(
        draft, prove(patient, drafts.do_issue_draft_challenge(draft))
    )
    assert consent.items == ["medication", "qualification"] and consent.kind == "home_visit"
    draft.refresh_from_db()
    assert draft.status == DraftStatus.DONE and draft.consent == consent


# --- done is terminal --------------------------------------------------------------------------------
def test_a_done_draft_takes_no_change_no_challenge_and_no_second_consent(institution, patient):
    # given a draft whose consent is registered
    draft = confirmed(institution)
    verified = prove(patient, drafts.do_issue_draft_challenge(draft))
    drafts.do_register_consent_from_draft(draft, verified)
    # then nothing more can be done with it: Back from done plus the PIN registers nothing
    refused("consent_draft_ended", drafts.do_set_items, draft, ["treatment"])
    refused("consent_draft_ended", drafts.do_confirm_draft, draft)
    refused("consent_draft_ended", drafts.do_issue_draft_challenge, draft)
    refused("consent_draft_ended", drafts.do_register_consent_from_draft, draft, verified)
    assert Consent.objects.count() == 1


# --- the next patient ends every earlier draft of the device -------------------------------------------
def test_starting_the_next_patient_ends_every_earlier_draft_of_the_device_only(institution, patient):
    # given on this device a done draft and an unfinished one at the card step, and another device's draft
    done = confirmed(institution)
    drafts.do_register_consent_from_draft(done, prove(patient, drafts.do_issue_draft_challenge(done)))
    waiting = confirmed(institution, items=("checkup",))
    other_device = confirmed(institution, device="tablet-2")
    # when the next patient starts
    drafts.do_start_draft(DEVICE, institution, "telehealth")
    # then the earlier drafts of this device have ended, the done one no longer shows its patient
    done.refresh_from_db(), waiting.refresh_from_db(), other_device.refresh_from_db()
    assert done.status == DraftStatus.DONE and done.ended_at is not None and not drafts.done_shown(done)
    assert waiting.status == DraftStatus.ENDED and waiting.challenge is None
    refused("consent_draft_ended", drafts.do_issue_draft_challenge, waiting)
    # and another device's draft goes on
    assert other_device.status == DraftStatus.FROZEN and other_device.ended_at is None


def test_a_done_page_names_its_patient_only_for_a_short_while(institution, patient):
    draft = confirmed(institution)
    drafts.do_register_consent_from_draft(draft, prove(patient, drafts.do_issue_draft_challenge(draft)))
    draft.refresh_from_db()
    assert drafts.done_shown(draft)
    assert not drafts.done_shown(draft, now=draft.done_at + drafts.DONE_SHOWN_FOR)


# --- on the pages ------------------------------------------------------------------------------------------
def register(client, entry, card_key):  # noqa: F811
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    answer = {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])}
    return post_json(client, url("answer", entry, "home"), answer)


def test_back_from_done_shows_nothing_to_sign_and_after_the_next_patient_nothing_of_the_previous(
    client,
    institution,
    person,
    card_key,  # noqa: F811
):
    entry = entry_for(institution)
    walk_to_card(client, entry)
    assert register(client, entry, card_key).status_code == 200
    done = client.get(url("done", entry, "home"))
    assert person.name in done.content.decode() and "no-store" in done["Cache-Control"]
    # Back from done: the card page leads to done again, and a challenge is refused
    assert client.get(url("card", entry, "home"))["Location"] == url("done", entry, "home")
    again = post_json(client, url("challenge", entry, "home"), {})
    assert again.status_code == 410 and again.json()["problem"] == "consent_draft_ended"
    # When the next patient starts (the done page's button opens the entry page)
    client.get(url("entry", entry))
    # Then every page of the previous flow says the procedure ended, and shows nothing of the patient
    for step in ("done", "card", "confirm", "limit", "items"):
        response = client.get(url(step, entry, "home"))
        html = response.content.decode()
        assert response.status_code == 410, step
        assert 'data-problem="consent_draft_ended"' in html and person.name not in html, step
        assert "限度額" not in html.split("</header>")[1], step
    assert Consent.objects.count() == 1


def test_a_form_shown_for_an_earlier_draft_changes_nothing(client, institution):
    entry = entry_for(institution)
    walk_to_card(client, entry)
    old = client.session[f"consent.{entry.pk}.home.draft"]["draft"]
    walk_to_card(client, entry, items=("treatment",))
    response = client.post(url("items", entry, "home"), {"medication": "yes", "draft": old})
    assert response.status_code == 410
    assert ConsentDraft.objects.get(key=old).status == DraftStatus.ENDED
    current = ConsentDraft.objects.exclude(key=old).get()
    assert current.items == ["limit_certificate", "treatment"] and current.status == DraftStatus.FROZEN


def test_the_start_button_posts_and_a_get_of_the_first_screen_ends_nothing(client, institution):
    entry = entry_for(institution)
    walk_to_card(client, entry)
    html = client.get(url("about", entry, "home")).content.decode()
    assert f'action="{url("about", entry, "home")}"' in html and 'method="post"' in html
    assert ConsentDraft.objects.get().status == DraftStatus.FROZEN


# --- the step forms: the rules' codes ----------------------------------------------------------------
@pytest.mark.parametrize(
    "posted, code",
    [
        ("", "visit_date_required"),
        ("soon", "visit_date_invalid"),
        ("2026-01-01", "visit_date_past"),
        ("2026-06-01", "visit_date_too_far"),
    ],
)
def test_the_visit_date_form_refuses_with_the_rules_codes(posted, code):
    form = forms.VisitDateForm({"visit_date": posted}, today=datetime.date(2026, 2, 1))
    assert not form.is_valid() and form.first_error()["code"] == code


def test_the_visit_date_horizon_is_the_rules_one():
    today = datetime.date(2026, 2, 1)
    last = today + rules.VISIT_DATE_HORIZON
    assert forms.VisitDateForm({"visit_date": last.isoformat()}, today=today).is_valid()
    assert not forms.VisitDateForm(
        {"visit_date": (last + datetime.timedelta(days=1)).isoformat()}, today=today
    ).is_valid()


@pytest.mark.parametrize(
    "posted, code",
    [
        ({"until": "date", "until_date": ""}, "consent_end_date_invalid"),
        ({"until": "date", "until_date": "2026-01-31"}, "available_until_past"),
        ({"until": "date", "until_date": "2031-02-02"}, "available_until_too_far"),
        ({"until": "forever"}, "consent_end_choice_missing"),
    ],
)
def test_the_confirm_form_refuses_with_the_rules_codes(posted, code):
    form = forms.ConfirmForm(posted, kind="home_visit", today=datetime.date(2026, 2, 1))
    assert not form.is_valid() and form.first_error()["code"] == code


def test_the_confirm_form_takes_today_up_to_five_years(institution):
    today = datetime.date(2026, 2, 1)
    for day in (today, rules.latest_end_date(today)):
        form = forms.ConfirmForm(
            {"until": "date", "until_date": day.isoformat()}, kind="home_visit", today=today
        )
        assert form.is_valid() and form.cleaned_data["available_until"] == day


def test_the_items_form_refuses_medical_items_at_a_qualification_only_site(institution):
    form = forms.ItemsForm({"medication": "yes"}, kind="home_visit", institution=institution)
    assert form.is_valid() and form.cleaned_data["items"] == ["medication"]
    form = forms.ItemsForm({"medication": "yes"}, kind="qualification_only", institution=institution)
    assert not form.is_valid() and form.first_error()["code"] == "consent_items_medical_not_allowed"


def test_the_limit_form_has_no_silent_answer():
    assert forms.LimitForm({"share_limit": "yes"}).is_valid()
    form = forms.LimitForm({})
    assert not form.is_valid() and form.first_error()["code"] == "consent_limit_not_answered"


def test_day_old_drafts_are_purged_and_their_consents_stay(institution, patient):
    from django.core.management import call_command

    draft = confirmed(institution)
    consent = drafts.do_register_consent_from_draft(
        draft, prove(patient, drafts.do_issue_draft_challenge(draft))
    )
    fresh = confirmed(institution, device="tablet-2")
    ConsentDraft.objects.filter(pk=draft.pk).update(created_at=draft.created_at - datetime.timedelta(days=2))
    call_command("purge_challenges", stdout=__import__("io").StringIO())
    assert list(ConsentDraft.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert Consent.objects.filter(pk=consent.pk).exists()


def test_back_to_the_start_of_an_app_session_after_confirming_keeps_the_apps_draft(client, institution):
    from homeconsent.consent.telehealth import do_create_session, do_register_app

    app, _secret = do_register_app(
        "アプリ", institutions=[institution], allowed_return_urls=["https://app.example/back"]
    )
    session = do_create_session(
        app,
        institution_code=institution.code,
        visit_date=datetime.date.today() + datetime.timedelta(days=1),
        items=["qualification", "checkup"],
        return_url="https://app.example/back",
        state="s-2",
    )
    entry = entry_for(institution)
    client.get(reverse("consent:session", args=[session.session_id]))
    client.post(url("items", entry, "telehealth"))
    client.post(url("confirm", entry, "telehealth"))
    # when the patient goes back to the first screen and presses 始める again
    about = client.get(url("about", entry, "telehealth")).content.decode()
    assert 'id="stop"' in about
    started = client.post(url("about", entry, "telehealth"), {"flow": "telehealth"})
    # then the app's draft goes on (its date and items), not a new plain telehealth flow
    assert started["Location"] == url("items", entry, "telehealth")
    draft = ConsentDraft.objects.get()
    assert draft.session == session and draft.items == ["checkup"]


def test_starting_flows_again_and_again_is_refused_with_its_code_and_writes_nothing(
    client, institution, settings
):
    settings.CONSENT_START_RATE_LIMITS = {"ip": 0, "entry": 0, "session": 2}
    entry = entry_for(institution)
    client.get(url("about", entry, "home"))
    assert [client.post(url("about", entry, "home"), {"flow": "home"}).status_code for _ in range(2)] == [
        302,
        302,
    ]
    refused_start = client.post(url("about", entry, "home"), {"flow": "home"})
    html = refused_start.content.decode()
    assert refused_start.status_code == 429 and refused_start["Retry-After"]
    assert 'data-code="consent_start_rate_limited"' in html and "分ほど待って" in html
    assert ConsentDraft.objects.count() == 2
