"""What the telehealth pages say and do after the review by an elderly patient and a telehealth app:
the consent's real span (from consenting to the end of the visit day), 中止する taking an app's
patient back to the app as declined, an ended app session leading back to the app, and a visit date
that is never guessed for the patient (nor changeable when the app booked it)."""

import base64
import datetime
import json
import re
import urllib.parse

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import override
from rest_framework.test import APIClient

from homeconsent.audit.models import AccessEvent
from homeconsent.consent import telehealth
from homeconsent.consent.models import ConsentSession, WebhookDelivery
from homeconsent.consent.rules import TOKYO
from tests.consent.test_pages import (  # noqa: F401 (fixtures)
    card_answer,
    card_key,
    entry,
    institution,
    page_pki,
    person,
    post_json,
    start,
    trusted,
    url,
    walk_to_card,
)

RETURN_URL = "https://tele.example.jp/visits/return"
# The old wordings, untrue: the institution can read from the moment of consent, not on the day only.
DAY_ONLY = (
    "1日だけ有効",
    "この日だけ有効",
    "covers the day of your booked visit only",
    "covers this day only",
)


def tokyo_today():
    return timezone.localdate(timezone=TOKYO)


def ja_day(day):
    return f"{day.year}年{day.month}月{day.day}日"


def text(response):
    """The page's text without tags, so a sentence split by markup still reads as one."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def in_english(client, entry):
    client.post(reverse("set_language"), {"language": "en", "next": url("entry", entry)})


@pytest.fixture
def app_and_secret(institution):
    return telehealth.do_register_app(
        "みらいオンライン診療", institutions=[institution], allowed_return_urls=[RETURN_URL]
    )


@pytest.fixture
def visit():
    return tokyo_today() + datetime.timedelta(days=3)


@pytest.fixture
def app_session(app_and_secret, institution, visit):
    return telehealth.do_create_session(
        app_and_secret[0],
        institution_code=institution.code,
        visit_date=visit,
        items=["qualification", "medication"],
        return_url=RETURN_URL + "?visit=4711",
        state="visit-4711",
    )


def open_app_session(client, session):
    response = client.get(reverse("consent:session", args=[session.session_id]))
    assert response.status_code == 302
    return client.get(response["Location"])


def status_poll(app_and_secret, session):
    app, secret = app_and_secret
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    )
    return client.get(f"/consent/api/v1/sessions/{session.session_id}").json()["status"]


def returned_query(location):
    assert location.startswith(RETURN_URL + "?")
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def expire(session):
    ConsentSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )


def register_at_card(client, entry, card_key):
    client.post(url("confirm", entry, "telehealth"))  # 同意する: the draft the card signs
    issued = post_json(client, url("challenge", entry, "telehealth"), {}).json()
    answer = {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])}
    response = post_json(client, url("answer", entry, "telehealth"), answer)
    assert response.status_code == 200, response.content
    return client.get(url("done", entry, "telehealth"))


# --- 1. the consent holds from its giving to the end of the visit day, said on every page ----------
def test_every_telehealth_page_says_the_consent_holds_from_now_to_the_end_of_the_visit_day(
    client, entry, card_key, visit
):
    # Given a patient starting a telehealth consent from the institution's page
    about = text(start(client, entry, "telehealth"))
    date_page = text(client.get(url("visit_date", entry)))
    # When they go through to the card with a visit in three days and consent
    confirm = text(walk_to_card(client, entry, kind="telehealth", items=("medication",), visit_date=visit))
    done = text(register_at_card(client, entry, card_key))
    # Then each page says the span truthfully, the day named once it is known
    assert "同意した時から、予約した診療日の終わりまで有効です" in about
    assert "同意した時から、この日の終わりまで有効です" in date_page
    assert f"同意した時から、{ja_day(visit)}の終わり（24時）まで" in confirm
    assert f"同意した時から、{ja_day(visit)}の終わり（24時）まで" in done
    for page in (about, date_page, confirm, done):
        assert not any(wording in page for wording in DAY_ONLY)


def test_the_done_page_states_when_the_consent_was_given_and_until_when_it_holds(
    client, entry, card_key, visit
):
    # Given a telehealth consent just registered
    walk_to_card(client, entry, kind="telehealth", items=("medication",), visit_date=visit)
    done = register_at_card(client, entry, card_key).content.decode()
    # Then the done page gives the time of the consent (24h, Japan time) and its end, the end of the visit day
    given = re.search(r'id="done-given-at">([^<]+)<', done).group(1)
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d{1,2}時\d{2}分", given)
    assert re.search(r'id="done-until">[^<]*' + re.escape(f"{ja_day(visit)}の終わり（24時）まで"), done)


def test_in_english_the_span_reads_from_now_until_the_end_of_the_visit_day(client, entry, app_session, visit):
    # Given an English page in an app's session (the date is known from the start)
    in_english(client, entry)
    # When the patient reads the first page and the items the app asks for (its date is not asked again)
    about = text(open_app_session(client, app_session))
    date_page = text(client.get(url("items", entry, "telehealth")))
    # Then both say from now until the end of the visit day, with the day
    with override("en"):
        day = date_format(visit, "DATE_FORMAT")
    expected = f"Your consent holds from the moment you give it until the end of your visit day ({day})."
    assert expected in about and expected in date_page
    assert not any(wording in about + date_page for wording in DAY_ONLY)


# --- 2. 中止する in an app's session goes back to the app, as declined -----------------------------
def test_a_declined_session_is_also_told_to_an_app_with_a_webhook(client, entry, institution, visit):
    # given an app that receives webhooks, and its patient on the session's first page
    app, _ = telehealth.do_register_app(
        "通知するアプリ",
        institutions=[institution],
        allowed_return_urls=[RETURN_URL],
        webhook_url="https://tele.example.jp/hooks",
    )
    session = telehealth.do_create_session(
        app,
        institution_code=institution.code,
        visit_date=visit,
        items=["qualification"],
        return_url=RETURN_URL,
        state="s-1",
    )
    open_app_session(client, session)

    # when the patient stops
    client.post(reverse("consent:session_stop", args=[session.session_id]))

    # then a session.declined webhook is queued, with the app's own references and no consent
    delivery = WebhookDelivery.objects.get(app=app)
    body = json.loads(delivery.body)
    assert delivery.event == "session.declined" and body["type"] == "session.declined"
    assert (
        body["data"]["status"] == "declined"
        and body["data"]["consent_id"] is None
        and body["data"]["state"] == "s-1"
    )


def test_stop_in_an_app_session_declines_it_and_returns_to_the_app(
    client, entry, app_session, app_and_secret
):
    # Given a patient on the first page of an app's session
    about = open_app_session(client, app_session).content.decode()
    stop_url = reverse("consent:session_stop", args=[app_session.session_id])
    assert f'action="{stop_url}"' in about and 'form="stop-app-session"' in about
    # When they press 中止する (a plain form post, no script)
    response = client.post(stop_url)
    # Then they are sent back to the app with its session id, the status and its state, like a success
    assert response.status_code == 302
    query = returned_query(response["Location"])
    assert query == {
        "visit": "4711",
        "session_id": app_session.session_id,
        "status": "declined",
        "state": "visit-4711",
    }
    # And the app's status poll says declined; the audit log says who stopped
    assert status_poll(app_and_secret, app_session) == "declined"
    assert (
        AccessEvent.objects.filter(
            detail__action="consent_session_declined", detail__session=app_session.pk
        ).count()
        == 1
    )
    # And the link, opened again, says the patient stopped it and leads back to the app
    again = client.get(reverse("consent:session", args=[app_session.session_id]))
    assert again.status_code == 410 and 'data-problem="session_declined"' in again.content.decode()
    assert reverse("consent:session_return", args=[app_session.session_id]) in again.content.decode()


def test_every_step_of_an_app_session_offers_stop_and_none_leads_to_the_institutions_page(
    client, entry, app_session
):
    # Given a patient in an app's session
    open_app_session(client, app_session)
    steps = {"about": client.get(url("about", entry, "telehealth"))}
    # (the screen that only showed the app's booked date is gone: its address goes on to the items)
    assert client.get(url("visit_date", entry))["Location"] == url("items", entry, "telehealth")
    steps["items"] = client.get(url("items", entry, "telehealth"))
    client.post(url("items", entry, "telehealth"))
    steps["confirm"] = client.get(url("confirm", entry, "telehealth"))
    client.post(url("confirm", entry, "telehealth"))
    steps["card"] = client.get(url("card", entry, "telehealth"))
    # Then every step has the stop button and no link to the institution's generic page
    entry_link = f'href="{url("entry", entry)}"'
    for name, response in steps.items():
        html = response.content.decode()
        assert response.status_code == 200, name
        assert 'id="stop"' in html and 'id="stop-app-session"' in html, name
        assert entry_link not in html, name
        assert "中止してアプリに戻る" in html, name


def test_stop_after_consenting_changes_nothing_and_returns_registered(client, entry, app_session, card_key):
    # Given an app's session the patient consented in
    open_app_session(client, app_session)
    client.post(url("visit_date", entry))
    client.post(url("items", entry, "telehealth"))
    register_at_card(client, entry, card_key)
    # When a stop is posted anyway (an old tab)
    response = client.post(reverse("consent:session_stop", args=[app_session.session_id]))
    # Then the session stays registered and the app hears so
    assert returned_query(response["Location"])["status"] == "registered"
    assert ConsentSession.objects.get(pk=app_session.pk).status == "registered"


def test_stop_needs_the_pages_form_token(entry, app_session):
    from django.test import Client

    # Given a browser with CSRF checks on and no page's token
    # When a stop is posted from elsewhere
    response = Client(enforce_csrf_checks=True).post(
        reverse("consent:session_stop", args=[app_session.session_id])
    )
    # Then nothing changes
    assert response.status_code == 403 and ConsentSession.objects.get(pk=app_session.pk).status == "pending"


# --- 2b. an app session that ended mid-flow leads back to the app ----------------------------------
def test_an_app_session_expired_mid_flow_offers_only_the_way_back_to_the_app(client, entry, app_session):
    # Given a patient halfway through an app's session that then expires
    open_app_session(client, app_session)
    client.post(url("visit_date", entry))
    expire(app_session)
    # When they go on to the next step
    response = client.get(url("items", entry, "telehealth"))
    # Then the page says the link expired and offers to go back to the app, not to start again
    html = response.content.decode()
    return_url = reverse("consent:session_return", args=[app_session.session_id])
    assert response.status_code == 410 and 'data-problem="session_expired"' in html
    assert f'href="{return_url}"' in html and 'id="return-to-app"' in html
    assert "consent_session_expired" in html and 'id="start-again"' not in html
    # And going back lands at the app with status expired and its state
    back = client.get(return_url)
    assert returned_query(back["Location"]) | {"session_id": ""} == {
        "visit": "4711",
        "session_id": "",
        "status": "expired",
        "state": "visit-4711",
    }


def test_the_card_step_says_an_expired_app_session_before_the_pin(client, entry, app_session):
    # Given a patient at the card step of an app's session
    open_app_session(client, app_session)
    client.post(url("visit_date", entry))
    client.post(url("items", entry, "telehealth"))
    client.post(url("confirm", entry, "telehealth"))
    card = client.get(url("card", entry, "telehealth")).content.decode()
    # Then the card page holds the panel that leads back to the app (consent-flow.js shows it)
    panel = re.search(r'data-problem="app_session_ended".*?</section>', card, re.S).group(0)
    assert reverse("consent:session_return", args=[app_session.session_id]) in panel
    assert 'data-action="retry"' not in panel and "Start again" not in panel and "最初から" not in panel
    # When the session expires before the card is read
    expire(app_session)
    response = post_json(client, url("challenge", entry, "telehealth"), {})
    # Then no challenge is issued: the code is said before the card and the PIN
    assert response.status_code == 410 and response.json()["problem"] == "consent_session_expired"


def test_an_ended_app_session_does_not_hold_up_a_consent_from_the_institutions_page(
    client, entry, app_session, visit
):
    # Given a browser that left an app's session, which then expired
    open_app_session(client, app_session)
    expire(app_session)
    # When the institution's page is used to start a telehealth consent
    client.get(url("entry", entry))
    about = start(client, entry, "telehealth")
    # Then it is an ordinary telehealth flow, asking the date
    assert about.status_code == 200
    assert 'name="visit_date"' in client.get(url("visit_date", entry)).content.decode()


# --- 3. the visit date: never guessed, and fixed when the app booked it ----------------------------
def test_the_visit_date_starts_empty_and_pressing_next_unchanged_is_asked_again(client, entry):
    # Given the date page of a telehealth consent
    start(client, entry, "telehealth")
    page = client.get(url("visit_date", entry)).content.decode()
    # Then the date is empty, not today
    field = re.search(r'<input type="date" id="visit_date"[^>]*>', page).group(0)
    assert 'value=""' in field
    # When the patient presses 次へ without choosing
    response = client.post(url("visit_date", entry), {"visit_date": ""})
    # Then the question comes again with a coded message, and nothing goes on to the items
    html = response.content.decode()
    assert response.status_code == 400 and 'data-code="visit_date_required"' in html
    assert "オンライン診療の日を選んでください。" in html and 'aria-invalid="true"' in html
    assert client.get(url("items", entry, "telehealth")).status_code == 302


def test_a_refused_date_stays_shown_with_its_message(client, entry):
    # Given the date page
    start(client, entry, "telehealth")
    # When the patient gives a past day
    response = client.post(url("visit_date", entry), {"visit_date": "2020-05-01"})
    # Then the day they gave is still in the box next to the coded message, not replaced by today
    html = response.content.decode()
    assert response.status_code == 400 and 'data-code="visit_date_past"' in html
    assert 'value="2020-05-01"' in html and f'value="{tokyo_today().isoformat()}"' not in html


def test_an_apps_booked_date_is_shown_and_never_asked_again(client, entry, app_session, visit):
    # Given a patient in an app's session
    about = open_app_session(client, app_session).content.decode()
    # Then no screen asks the date or only shows it: the about and items screens name it
    assert url("visit_date", entry) not in about and ja_day(visit) in about
    assert client.get(url("visit_date", entry))["Location"] == url("items", entry, "telehealth")
    items = client.get(url("items", entry, "telehealth")).content.decode()
    assert ja_day(visit) in re.search(r'id="booked-visit-date">([^<]+)<', items).group(1)
    # When another date is posted to the old date address anyway
    other = visit + datetime.timedelta(days=1)
    response = client.post(url("visit_date", entry), {"visit_date": other.isoformat()})
    # Then nothing changes: the booked date stands
    assert response.status_code == 302
    client.post(url("items", entry, "telehealth"))
    confirm = client.get(url("confirm", entry, "telehealth")).content.decode()
    assert ja_day(visit) in confirm and ja_day(other) not in confirm


def test_only_an_app_sessions_pages_let_a_form_lead_to_the_apps_return_address(client, entry, app_session):
    # Given the institution's own page and an app session's first page
    plain = client.get(url("about", entry, "home"))
    in_app = open_app_session(client, app_session)
    # Then only the app's page lets the stop form's redirect reach the app (browsers check form-action on it)
    assert "form-action 'self';" in plain["Content-Security-Policy"]
    assert "form-action 'self' https://tele.example.jp;" in in_app["Content-Security-Policy"]
