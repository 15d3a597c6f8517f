"""What the consent pages say after the home-visit review: error codes on every error, one wording for
"while care continues", a confirm page that never sticks, the 限度額 question never skipped, and a
done page that leads to the next patient."""

import datetime
import re

from django.urls import reverse
from django.utils import timezone

from homeconsent.consent.models import CardAuthChallenge, Consent
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

# The three wordings of one idea the review found; only 診療が続く間 stays.
OTHER_WORDINGS = ("ケアが続く間", "診療が終わるまで", "医療機関等が終了日を決めることができます")


def error_code_shown(html, code):
    return re.search(
        r'class="error-code">[^<]*: <span class="code" lang="en" translate="no" data-error-code>'
        + re.escape(code)
        + "<",
        html,
    )


def in_english(client, entry):
    client.post(reverse("set_language"), {"language": "en", "next": url("entry", entry)})


def register(client, entry, card_key, **confirm_post):
    walk_to_card(client, entry, items=("medication",), limit="no")
    if confirm_post:
        assert client.post(url("confirm", entry, "home"), confirm_post).status_code == 302
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    response = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    assert response.status_code == 200
    return client.get(url("done", entry, "home")).content.decode()


# --- 1. every error page prints its code -----------------------------------------------------------
def test_unknown_address_prints_entry_not_found(client, entry):
    html = client.get("/consent/e/not-a-real-token/").content.decode()
    assert error_code_shown(html, "entry_not_found") and "お問い合わせ用コード" in html
    in_english(client, entry)
    assert "Code for enquiries" in client.get("/consent/e/not-a-real-token/").content.decode()


def test_start_from_the_beginning_page_prints_session_expired(client, entry):
    # given a step opened without the earlier answers
    response = client.get(url("confirm", entry, "home"))
    # then the page it leads to says so with its code
    html = client.get(response["Location"]).content.decode()
    assert "最初からやり直してください" in html and error_code_shown(html, "session_expired")


def test_unusable_app_link_prints_the_sessions_code(client, db):
    html = client.get(reverse("consent:session", args=["nope"])).content.decode()
    assert error_code_shown(html, "consent_session_unknown")


def test_every_card_problem_panel_has_a_place_for_its_code(client, entry):
    walk_to_card(client, entry)
    html = client.get(url("card", entry, "home")).content.decode()
    panels = re.findall(r'<section class="problem" data-problem="([a-z_]+)".*?</section>', html, re.S)
    assert len(panels) >= 13
    for panel in re.finditer(r'<section class="problem" data-problem="([a-z_]+)".*?</section>', html, re.S):
        assert error_code_shown(panel.group(0), panel.group(1)), panel.group(1)


# --- 2. the confirm page's end date ------------------------------------------------------------------
def test_a_bad_end_date_left_behind_does_not_matter_once_care_is_chosen(client, entry):
    walk_to_card(client, entry)
    response = client.post(url("confirm", entry, "home"), {"until": "care", "until_date": "2099-01-01"})
    assert response.status_code == 302 and response["Location"] == url("card", entry, "home")


def test_the_confirm_form_leaves_checking_to_the_server_and_hides_the_date_with_script(client, entry):
    html = walk_to_card(client, entry).content.decode()
    # novalidate: never the browser's own (English) message; the box the script shows and hides.
    assert re.search(r'<form method="post" action="[^"]*/confirm/" novalidate>', html)
    assert 'id="until-date-box"' in html and "js/consent-flow.js" in html


def test_an_out_of_range_end_date_is_answered_with_its_code_in_the_page_language(client, entry):
    walk_to_card(client, entry)
    latest = timezone.localdate(timezone=TOKYO) + datetime.timedelta(days=5 * 366 + 1)
    response = client.post(url("confirm", entry, "home"), {"until": "date", "until_date": latest.isoformat()})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-code="available_until_too_far"' in html and error_code_shown(html, "available_until_too_far")
    assert "同意の終了日は5年先まで" in html and re.search(r'id="until-date"[^>]*checked', html)
    in_english(client, entry)
    html = client.post(url("confirm", entry, "home"), {"until": "date", "until_date": ""}).content.decode()
    assert "Choose a day from today up to" in html and "Code for enquiries" in html


# --- 3. one wording, the one that applies, past tense when done ---------------------------------------
def test_the_flow_says_while_care_continues_one_way(client, entry, person, card_key):
    pages = [
        client.get(url("entry", entry)).content.decode(),
        client.get(url("about", entry, "home")).content.decode(),
    ]
    confirm = walk_to_card(client, entry).content.decode()
    pages += [confirm, register(client, entry, card_key)]
    for html in pages:
        for wording in OTHER_WORDINGS:
            assert wording not in html
    assert (
        "診療が続く間（終了日なし）" in confirm and "医療機関等が同意を早めに終えることがあります" in confirm
    )
    assert "診療が続く間（取り消すまで）" in pages[-1]


def test_done_with_an_end_date_shows_that_date_only_and_in_the_past_tense(client, entry, person, card_key):
    in_english(client, entry)
    end = timezone.localdate(timezone=TOKYO) + datetime.timedelta(days=400)
    html = register(client, entry, card_key, until="date", until_date=end.isoformat())
    until = re.search(r'id="done-until">(.*?)</dd>', html).group(1)
    assert until == f"Through {end.day} {end:%b} {end.year}"  # the day chosen, not the midnight after it
    assert re.search(r'id="done-for">Home visits</dd>', html)
    assert "while care continues" not in html.lower() and "while your care continues" not in html.lower()
    assert "You consented to" in html and "You are consenting to" not in html


def test_your_consents_page_shows_the_last_day_not_the_midnight_after_it(client, entry, person, card_key):
    end = timezone.localdate(timezone=TOKYO) + datetime.timedelta(days=30)
    register(client, entry, card_key, until="date", until_date=end.isoformat())
    client.get(url("about", entry, "mine"))
    issued = post_json(client, url("challenge", entry, "mine"), {}).json()
    post_json(
        client,
        url("answer", entry, "mine"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    html = client.get(url("mine", entry)).content.decode()
    assert f"{end.year}年{end.month}月{end.day}日まで" in html and "0時00分" not in html


# --- 5. the 限度額 question is never skipped ------------------------------------------------------------
def test_an_unanswered_limit_question_is_asked_again_with_its_code(client, entry):
    # given items chosen
    start(client, entry, "home")
    client.post(url("items", entry, "home"), {"medication": "yes", "checkup": "yes"})
    # when the limit question comes back unanswered (or with neither answer)
    for posted in ({}, {"share_limit": "maybe"}):
        response = client.post(url("limit", entry, "home"), posted)
        html = response.content.decode()
        # then it is asked again, with its code, and nothing is taken as an answer
        assert response.status_code == 400 and error_code_shown(html, "consent_limit_not_answered")
        assert 'data-code="consent_limit_not_answered"' in html and "「はい」か「いいえ」" in html
        assert not re.search(r'id="limit-(yes|no)"[^>]*checked', html)
    assert client.get(url("confirm", entry, "home")).status_code == 302  # no answer recorded
    # and the other answers are kept
    items = client.get(url("items", entry, "home")).content.decode()
    assert re.search(r'id="item-medication"[^>]*checked', items) and re.search(
        r'id="item-checkup"[^>]*checked', items
    )
    client.post(url("limit", entry, "home"), {"share_limit": "yes"})
    client.post(url("confirm", entry, "home"), {"until": "care"})
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    assert CardAuthChallenge.objects.get(pk=issued["challenge"]).items == [
        "checkup",
        "limit_certificate",
        "medication",
        "qualification",
    ]


# --- 6. the done page leads to the next patient ---------------------------------------------------------
def test_done_page_leads_back_to_the_entry_and_asks_for_the_device_back(client, entry, person, card_key):
    html = register(client, entry, card_key)
    assert re.search(
        r'<a class="button" href="' + re.escape(url("entry", entry)) + '" id="start-over">', html
    )
    assert "この端末を職員にお返しください" in html
    assert Consent.objects.filter(person=person).count() == 1
