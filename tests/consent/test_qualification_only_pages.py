"""The consent pages of a qualification-only site (資格確認限定型: 柔道整復・あはき施術所, 健診機関): no
medical item offered, the reason said on the entry, item, confirm and done pages (Japanese, and
English), and a crafted post naming a medical item refused with its code, nothing written."""

import pytest
from django.urls import reverse

from homeconsent.consent.models import CardAuthChallenge, Consent, ConsentDraft
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

REASON_JA = "この施設は資格確認のみを行う施設（柔道整復・あはき施術所、健診機関）のため"
REASON_EN = "This institution only confirms health insurance"


@pytest.fixture
def site(institution):
    institution.name = "さくら鍼灸マッサージ治療院"
    institution.qualification_only = True
    institution.save()
    return institution


def test_every_step_says_why_no_medical_information_is_shared(client, site, entry, person, card_key):
    # given a qualification-only site's entry page
    entry_page = client.get(url("entry", entry)).content.decode()
    assert REASON_JA in entry_page and "医療情報を見る" not in entry_page

    # when the patient goes through the home flow, choosing nothing medical (none is offered)
    about = start(client, entry, "home").content.decode()
    items = client.get(url("items", entry, "home")).content.decode()
    shown = walk_to_card(client, entry, items=(), limit="no").content.decode()
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    answered = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    done = client.get(url("done", entry, "home")).content.decode()

    # then each page says why, and only qualification is registered
    for page in (about, items, shown, done):
        assert 'id="qualification-only"' in page and REASON_JA in page
    assert 'id="item-medication"' not in items and 'id="item-checkup"' not in items
    assert answered.status_code == 200
    assert Consent.objects.get(person=person).items == ["qualification"]


def test_the_reason_is_in_english_too(client, site, entry):
    client.post(reverse("set_language"), {"language": "en", "next": url("entry", entry)})
    start(client, entry, "home")
    items = client.get(url("items", entry, "home")).content.decode()
    assert REASON_EN in items and "health-check centre" in items and REASON_JA not in items


@pytest.mark.parametrize("item", ["medication", "treatment", "checkup", "operation"])
def test_a_crafted_post_of_a_medical_item_is_refused_with_its_code(client, site, entry, item):
    # given the item step of a qualification-only site
    start(client, entry, "home")
    draft = ConsentDraft.objects.get()

    # when a crafted post names a medical item anyway
    response = client.post(url("items", entry, "home"), {"draft": draft.key, item: "yes"})

    # then refused with the code and the reason, and the draft holds no item
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-code="consent_items_medical_not_allowed"' in html and "柔道整復・あはき施術所" in html
    draft.refresh_from_db()
    assert draft.items == []
    assert not CardAuthChallenge.objects.exists() and not Consent.objects.exists()
