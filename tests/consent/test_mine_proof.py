"""The "your consents" card proof on a shared tablet: a new session key when it is stored, a short
life, the list shown once, and its next steps (update, cancel-all) only through the page's own links."""

import datetime
import re

from django.utils import timezone

from homeconsent.consent.models import Consent, ConsentStatus

from .test_pages import (  # noqa: F401  (fixtures)
    card_answer,
    card_key,
    entry,
    institution,
    link,
    page_pki,
    person,
    post_json,
    prove,
    trusted,
    url,
    walk_to_card,
)


def consent_to_home_visits(client, entry, card_key):
    walk_to_card(client, entry)
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )


def test_the_session_key_changes_when_the_card_proves_who_you_are(client, entry, person, card_key):
    # given a session on the tablet before the card answers
    client.get(url("about", entry, "mine"))
    before = client.session.session_key

    # when the card answers the inquiry
    prove(client, entry, card_key)

    # then the proof lives under a new session key
    assert before and client.session.session_key != before
    assert client.get(url("mine", entry)).status_code == 200


def test_the_next_person_cannot_reopen_the_list_or_cancel_all_by_address(client, entry, person, card_key):
    # given a patient who proved with the card, saw the list and walked away
    consent_to_home_visits(client, entry, card_key)
    prove(client, entry, card_key)
    assert client.get(url("mine", entry)).status_code == 200

    # when the next person types the addresses
    again = client.get(url("mine", entry))
    confirm = client.get(url("cancel_all", entry))
    cancel = client.post(url("cancel_all", entry))

    # then every one is refused and nothing is cancelled
    assert again.status_code == confirm.status_code == cancel.status_code == 302
    assert Consent.objects.get(person=person).status == ConsentStatus.ACTIVE


def test_a_used_link_from_history_does_not_work_again(client, entry, person, card_key):
    # given the list, then the cancel-all question reached through its link
    consent_to_home_visits(client, entry, card_key)
    prove(client, entry, card_key)
    cancel_link = link(client.get(url("mine", entry)).content.decode(), "cancel-all")
    assert client.get(cancel_link).status_code == 200

    # when that same link is opened again (back button, history)
    again = client.get(cancel_link)

    # then it is refused
    assert again.status_code == 302


def test_keep_them_goes_back_to_the_list(client, entry, person, card_key):
    consent_to_home_visits(client, entry, card_key)
    prove(client, entry, card_key)
    confirm = client.get(link(client.get(url("mine", entry)).content.decode(), "cancel-all")).content.decode()
    back = re.search(r'href="([^"]+)">[^<]*</a>\s*</div>\s*</form>', confirm).group(1).replace("&amp;", "&")

    assert client.get(back).status_code == 200


def test_the_proof_ends_after_three_minutes(client, entry, person, card_key):
    # given a proof stored four minutes ago
    prove(client, entry, card_key)
    session = client.session
    key = next(k for k in session.keys() if k.endswith(".proved"))
    proof = session[key]
    proof["at"] = (timezone.now() - datetime.timedelta(minutes=4)).isoformat()
    session[key] = proof
    session.save()

    # then the list is refused
    assert client.get(url("mine", entry)).status_code == 302


def test_the_proof_is_gone_after_a_cancel(client, entry, person, card_key):
    consent_to_home_visits(client, entry, card_key)
    prove(client, entry, card_key)
    confirm = client.get(link(client.get(url("mine", entry)).content.decode(), "cancel-all")).content.decode()
    step = re.search(r'name="step" value="([^"]+)"', confirm).group(1)

    assert client.post(url("cancel_all", entry), {"step": step}).status_code == 200

    assert not any(k.endswith(".proved") for k in client.session.keys())
    assert client.get(url("mine", entry)).status_code == 302
