"""The patient's access history shows checks by the paper eligibility certificate (資格確認書) path, in
Japanese and in English, and filters by it."""

import datetime

import pytest
from django.core.cache import cache

from homeconsent.registry import paper_certificate as paper
from homeconsent.registry.validation import clean_search_keys
from tests.paper_certificates import kouki_insurer, printed_keys, qualify


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def check_by_paper(person, insurer, institution, on):
    try:
        paper.check_paper_certificate(
            actor_type="institution_staff",
            actor_id="staff:uketsuke",
            institution_code=institution.code,
            keys=clean_search_keys(*printed_keys(person, insurer).values()),
            on=on,
        )
    except paper.HomeConsentError:
        pass  # the refusal is in the log too


def test_history_names_the_paper_path_in_japanese_and_english(signed_in, me, clinic, pharmacy, insurer):
    # given a 後期高齢者 certificate checked by the clinic under the interim rule (answered), and the
    # pharmacy trying the insurance numbers of a person whose card is registered (refused)
    kouki = kouki_insurer()
    qualify(me.person, kouki)
    check_by_paper(me.person, kouki, clinic, datetime.date(2026, 7, 15))
    check_by_paper(me.person, insurer, pharmacy, None)
    # when the patient opens the history filtered on the paper path
    page = signed_in.get("/portal/access/", {"basis": "paper_certificate"}).content.decode()
    # then both rows show, with the path and the result in Japanese
    assert page.count('<tr data-basis="paper_certificate"') == 2
    assert (
        "資格確認書の記載事項で資格を確認" in page
        and "資格確認書（紙の資格確認書の記載事項による確認）" in page
    )
    assert clinic.name in page and pharmacy.name in page and "拒否" in page
    assert '<option value="paper_certificate" selected>' in page
    # and in English
    signed_in.post("/i18n/setlang/", {"language": "en", "next": "/portal/access/"})
    english = signed_in.get("/portal/access/", {"basis": "paper_certificate"}).content.decode()
    assert "Eligibility checked with the numbers on your 資格確認書" in english
    assert "Your paper eligibility certificate (資格確認書)" in english and "Refused" in english


def test_the_csv_labels_the_paper_path_like_the_page(signed_in, me, clinic):
    kouki = kouki_insurer()
    qualify(me.person, kouki)
    check_by_paper(me.person, kouki, clinic, datetime.date(2026, 7, 15))
    body = signed_in.get("/portal/access.csv", {"basis": "paper_certificate"}).content.decode("utf-8-sig")
    [_header, row] = body.strip().splitlines()
    assert "資格確認書の記載事項で資格を確認" in row and clinic.code in row
