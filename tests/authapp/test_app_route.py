"""The phone route end to end without a browser: the service's pages, the stand-in provider as its own
process, the card's PIN proved on the provider's app screen with a virtual card."""

import re
import urllib.parse

import pytest

from homeconsent.audit.models import AccessEvent
from homeconsent.authapp.models import IdentityLink
from homeconsent.consent.models import CardAuthChallenge, Consent
from homeconsent.jpki.card import VirtualJPKICard
from tests.consent.test_pages import link

from .conftest import PIN, AppPageClient, PhoneApp, callback_path, url, walk_to_card


def start_app_route(client, entry, kind="home"):
    walk_to_card(client, entry, kind=kind) if kind != "mine" else client.get(url("about", entry, "mine"))
    response = client.post(url("app_start", entry, kind))
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def test_a_home_visit_consent_through_the_app_is_registered_with_its_evidence(
    client, entry, person, provider
):
    # given the card step of a home-visit consent on a phone
    authorization_url = start_app_route(client, entry)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorization_url).query))
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert query["state"] and query["nonce"] and query["code_challenge"]

    # when the patient enters the PIN in the app and comes back
    back = PhoneApp(authorization_url).enter_pin(PIN)
    assert back.status_code == 302
    done = client.get(callback_path(back.headers["Location"]))
    assert done.status_code == 302 and done["Location"] == url("app_done", entry, "home")
    registered = client.get(done["Location"])

    # then the consent is registered, proved by the app, with the ID token and the key that signed it
    assert registered.status_code == 302 and registered["Location"] == url("done", entry, "home")
    consent = Consent.objects.get(person=person)
    assert consent.authenticator == "app" and consent.card_certificate is None
    assert consent.id_token.count(".") == 2 and consent.provider_key["kty"] == "EC"
    assert CardAuthChallenge.objects.get(pk=consent.challenge_id).outcome == "verified"
    link = IdentityLink.objects.get(person=person)
    assert link.issuer == provider.issuer
    actions = list(AccessEvent.objects.filter(person=person).values_list("detail__action", flat=True))
    assert "app_link_created" in actions and "consent_registered" in actions
    assert AccessEvent.objects.get(detail__action="consent_registered").detail["route"] == "app"


def test_the_pin_goes_to_the_app_never_to_the_service(client, entry, person, provider):
    authorization_url = start_app_route(client, entry)
    back = PhoneApp(authorization_url).enter_pin(PIN)
    done = client.get(callback_path(back.headers["Location"]))
    client.get(done["Location"])

    # the only requests the service saw carry a code and a state, never the PIN
    assert PIN not in back.headers["Location"]
    assert Consent.objects.filter(person=person).exists()


def test_a_wrong_pin_lowers_the_cards_tries_and_three_lock_it(client, entry, person, provider):
    app = PhoneApp(start_app_route(client, entry))

    first = app.enter_pin("0000")
    assert first.status_code == 200 and "残り 2 回" in first.text
    assert VirtualJPKICard.load(provider.card_path).tries_left == 2
    app.enter_pin("0000")
    locked = app.enter_pin("0000")

    assert VirtualJPKICard.load(provider.card_path).locked
    assert locked.status_code == 302
    refused = client.get(callback_path(locked.headers["Location"]))
    assert refused.status_code == 403 and 'data-problem="app_card_locked"' in refused.content.decode()
    assert not Consent.objects.exists() and not IdentityLink.objects.exists()


def test_stopping_in_the_app_is_refused_with_its_code_and_a_way_back(client, entry, person, provider):
    app = PhoneApp(start_app_route(client, entry))

    back = app.submit("cancel")
    refused = client.get(callback_path(back.headers["Location"]))

    html = refused.content.decode()
    assert refused.status_code == 403 and 'data-problem="app_cancelled"' in html
    assert url("card", entry, "home") in html
    assert not Consent.objects.exists() and not IdentityLink.objects.exists()


def test_a_replayed_code_is_refused(client, entry, person, provider):
    authorization_url = start_app_route(client, entry)
    back = PhoneApp(authorization_url).enter_pin(PIN)
    callback = callback_path(back.headers["Location"])
    client.get(client.get(callback)["Location"])
    assert Consent.objects.count() == 1

    # a second attempt in the same browser, answered with the first attempt's code
    second = start_app_route(client, entry)
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(second).query))["state"]
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
    refused = client.get(f"/consent/app/callback?code={code}&state={state}")

    assert refused.status_code == 403 and 'data-problem="app_code_replayed"' in refused.content.decode()
    assert Consent.objects.count() == 1


def test_a_return_to_another_browser_is_refused_as_a_state_mismatch(client, entry, person, provider):

    back = PhoneApp(start_app_route(client, entry)).enter_pin(PIN)

    other = AppPageClient()
    refused = other.get(callback_path(back.headers["Location"]))

    assert refused.status_code == 403 and 'data-problem="app_state_mismatch"' in refused.content.decode()
    assert not Consent.objects.exists() and not IdentityLink.objects.exists()


def test_a_provider_that_is_down_is_refused_before_anything_is_stored(client, entry, person, provider):
    provider.stop()

    walk_to_card(client, entry)
    refused = client.post(url("app_start", entry, "home"))

    assert (
        refused.status_code == 502 and 'data-problem="app_provider_unreachable"' in refused.content.decode()
    )
    assert not Consent.objects.exists()


def test_the_same_person_by_the_reader_and_by_the_app_is_one_person(
    client, entry, person, provider, card_key
):
    from tests.consent.test_pages import card_answer, post_json

    walk_to_card(client, entry)
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    back = PhoneApp(start_app_route(client, entry)).enter_pin(PIN)
    client.get(client.get(callback_path(back.headers["Location"]))["Location"])

    consents = Consent.objects.order_by("pk")
    assert [c.authenticator for c in consents] == ["reader", "app"]
    assert {c.person_id for c in consents} == {person.pk}


def test_the_stored_evidence_of_either_route_is_re_verified_offline(
    client, entry, person, provider, card_key
):
    from io import StringIO

    from django.core.management import CommandError, call_command

    from tests.consent.test_pages import card_answer, post_json

    walk_to_card(client, entry)
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    back = PhoneApp(start_app_route(client, entry)).enter_pin(PIN)
    client.get(client.get(callback_path(back.headers["Location"]))["Location"])
    by_reader, by_app = Consent.objects.order_by("pk")
    provider.stop()  # offline: the provider is gone

    said = {}
    for consent in (by_reader, by_app):
        out = StringIO()
        call_command("verify_consent_evidence", str(consent.pk), stdout=out)
        said[consent.authenticator] = out.getvalue()

    assert (
        "verified" in said["reader"]
        and "カードリーダー" in said["reader"]
        and "signed, with its PIN" in said["reader"]
    )
    assert "verified" in said["app"] and "認証アプリ" in said["app"] and provider.issuer in said["app"]
    # a token swapped onto another consent no longer matches that consent's challenge
    Consent.objects.filter(pk=by_app.pk).update(challenge=None)
    Consent.objects.filter(pk=by_reader.pk).update(
        authenticator="app", id_token=by_app.id_token, provider_key=by_app.provider_key
    )
    with pytest.raises(CommandError, match="nonce"):
        call_command("verify_consent_evidence", str(by_reader.pk), stdout=StringIO())


def test_the_inquiry_opens_the_list_of_consents_through_the_app(client, entry, person, provider):
    authorization_url = start_app_route(client, entry)  # a consent first, to have something to list
    back = PhoneApp(authorization_url).enter_pin(PIN)
    client.get(client.get(callback_path(back.headers["Location"]))["Location"])

    client.get(url("about", entry, "mine"))
    started = client.post(url("app_start", entry, "mine"))
    back = PhoneApp(started["Location"]).enter_pin(PIN)
    done = client.get(callback_path(back.headers["Location"]))
    opened = client.get(done["Location"])

    assert opened.status_code == 302 and opened["Location"] == f"/consent/e/{entry.token}/mine/consents/"
    listed = client.get(opened["Location"])
    assert listed.status_code == 200 and Consent.objects.count() == 1
    assert CardAuthChallenge.objects.filter(kind="inquiry", outcome="verified").count() == 1


def test_a_direct_telehealth_consent_through_the_app_is_for_the_booked_day(client, entry, person, provider):
    # given a telehealth consent started on the patient's own phone (no telehealth app), up to its card step
    import datetime

    from django.utils import timezone

    visit = timezone.localdate() + datetime.timedelta(days=3)
    walk_to_card(client, entry, kind="telehealth", visit_date=visit)
    started = client.post(url("app_start", entry, "telehealth"))
    assert started.status_code == 302

    # when the patient proves the card in the app and comes back
    back = PhoneApp(started["Location"]).enter_pin(PIN)
    done = client.get(callback_path(back.headers["Location"]))
    registered = client.get(done["Location"])

    # then a telehealth consent for the booked day is registered, proved by the app
    assert registered.status_code == 302 and registered["Location"] == url("done", entry, "telehealth")
    consent = Consent.objects.get(person=person)
    assert consent.kind == "telehealth" and consent.visit_date == visit and consent.authenticator == "app"


def test_cancelling_every_consent_through_the_app(client, entry, person, provider):
    # given a consent, then the patient's consents opened through the app
    back = PhoneApp(start_app_route(client, entry)).enter_pin(PIN)
    client.get(client.get(callback_path(back.headers["Location"]))["Location"])
    client.get(url("about", entry, "mine"))
    back = PhoneApp(client.post(url("app_start", entry, "mine"))["Location"]).enter_pin(PIN)
    opened = client.get(client.get(callback_path(back.headers["Location"]))["Location"])
    listed = client.get(opened["Location"]).content.decode()

    # when the patient follows 取り消す for all and confirms
    cancel_link = link(listed, "cancel-all")
    question = client.get(cancel_link).content.decode()
    step = re.search(r'name="step" value="([^"]+)"', question).group(1)
    answered = client.post(cancel_link.split("?")[0], {"step": step})

    # then the consent is cancelled by the patient, on the strength of the app's proof
    assert answered.status_code == 200
    consent = Consent.objects.get(person=person)
    assert consent.ended_at is not None and consent.ended_by == "patient"
