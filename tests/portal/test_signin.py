"""Signing in with the card, the idle limit, signing out, and the self-reads in the access log."""

import datetime

from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.consent.models import CardAuthChallenge

from .conftest import answer_card

PAGES = [
    "/portal/",
    "/portal/qualifications/",
    "/portal/medication/",
    "/portal/checkups/",
    "/portal/treatment/",
    "/portal/expenses/",
    "/portal/expenses.csv",
    "/portal/consents/",
    "/portal/access/",
    "/portal/access.csv",
]


def test_every_page_sends_a_stranger_to_the_sign_in_page(client, db):
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == "/portal/signin/", url


def test_a_registered_card_signs_in_and_the_session_names_the_person_not_a_user(client, me):
    before_key = client.get("/portal/signin/") and client.session.session_key

    response = answer_card(client, "signin", me.key, me.certificate)

    assert response.json() == {"next": "/portal/"}
    assert client.session["portal.person"]["person"] == me.person.pk
    assert "_auth_user_id" not in client.session
    assert client.session.session_key != before_key  # a new key at sign-in: no fixation
    home = client.get("/portal/")
    assert home.status_code == 200 and me.person.name in home.content.decode()


def test_sign_in_is_written_to_the_access_log_as_the_patients_own_access(client, me):
    answer_card(client, "signin", me.key, me.certificate)

    event = AccessEvent.objects.get(person=me.person, detail__page="signin")
    assert (event.actor_type, event.basis, event.actor_id) == ("patient", "self", f"card:{me.card.serial}")


def test_an_unregistered_card_is_refused_with_its_code(client, me, pki, card_keys):
    stranger = pki.issue_user_auth_certificate(card_keys[2].public_key(), datetime.date(1970, 1, 1))

    response = answer_card(client, "signin", card_keys[2], stranger)

    assert response.status_code == 403 and response.json()["problem"] == "card_not_registered"
    assert "portal.person" not in client.session


def test_a_signature_by_another_key_is_refused(client, me, card_keys):
    response = answer_card(client, "signin", card_keys[1], me.certificate)

    assert response.json()["problem"] == "signature_invalid"
    assert client.get("/portal/").status_code == 302


def test_an_answer_to_a_challenge_this_session_was_not_given_is_refused(client, me):
    from homeconsent.consent.challenges import issue_challenge

    foreign = issue_challenge("portal_login")
    response = client.post(
        "/portal/card/signin/answer",
        {"challenge": foreign.pk, "certificate": "AA==", "signature": "AA=="},
        content_type="application/json",
    )

    assert response.json()["problem"] == "session_expired"
    assert CardAuthChallenge.objects.get(pk=foreign.pk).used_at is None


def test_a_challenge_answer_is_accepted_once(client, me):
    answer_card(client, "signin", me.key, me.certificate)
    challenge = CardAuthChallenge.objects.filter(purpose="portal_login").latest("pk")

    again = client.post(
        "/portal/card/signin/answer",
        {"challenge": challenge.pk, "certificate": "AA==", "signature": "AA=="},
        content_type="application/json",
    )

    assert again.json()["problem"] == "session_expired"


def test_the_session_ends_after_15_minutes_idle_but_not_before(signed_in, settings):
    assert settings.PORTAL_SESSION_IDLE == datetime.timedelta(minutes=15)
    state = signed_in.session["portal.person"]

    def idle_for(minutes):
        session = signed_in.session
        state["seen"] = (timezone.now() - datetime.timedelta(minutes=minutes)).isoformat()
        session["portal.person"] = state
        session.save()

    idle_for(14)
    assert signed_in.get("/portal/medication/").status_code == 200  # and this request renews it
    idle_for(15)
    response = signed_in.get("/portal/medication/")
    assert response.status_code == 302 and response["Location"] == "/portal/signin/"
    notice = signed_in.get("/portal/signin/").content.decode()
    assert "15" in notice and 'class="notice"' in notice
    assert signed_in.get("/portal/medication/").status_code == 302


def test_sign_out_ends_the_session(signed_in):
    response = signed_in.post("/portal/signout/")

    assert response.status_code == 200
    assert signed_in.get("/portal/").status_code == 302


def test_pages_carry_a_csp_without_inline_script_and_the_pin_field_has_no_name(client, db):
    response = client.get("/portal/signin/")
    body = response.content.decode()

    csp = response["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "<script>" not in body and " style=" not in body
    assert 'id="pin"' in body and 'name="pin"' not in body


def test_the_larger_text_option_is_remembered_in_a_cookie(client, db):
    response = client.post("/text-size/", {"large": "1", "next": "/portal/signin/"})
    assert response.cookies["hc_large_text"].value == "1" and response["Location"] == "/portal/signin/"

    assert 'class="portal large-text"' in client.get("/portal/signin/").content.decode()
    response = client.post("/text-size/", {"large": "0", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert 'class="portal"' in client.get("/portal/signin/").content.decode()


def test_english_is_available(client, db):
    client.cookies["django_language"] = "en"
    assert "See your own records" in client.get("/portal/signin/").content.decode()
