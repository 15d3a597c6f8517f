"""The console names consent kinds and items from one home (homeconsent/consent/labels.py, the
staff's words), in English and Japanese, for the rows the server draws and those the board's
script adds alike."""

import pytest
from django.utils import translation

from clinicapi.console.templatetags.console_tags import board_label_attributes, item_label, kind_label
from homeconsent.consent.labels import STAFF_ITEM_LABELS, STAFF_KIND_LABELS
from homeconsent.consent.models import ConsentItem, ConsentKind


def test_every_consent_kind_and_item_has_the_staffs_word():
    assert set(STAFF_KIND_LABELS) == set(ConsentKind.values)
    assert set(STAFF_ITEM_LABELS) == set(ConsentItem.values)


@pytest.mark.parametrize(
    "language,kind,item",
    [
        ("en", "Qualification only", "Limit certificate (限度額)"),
        ("ja", "資格確認のみ", "限度額適用認定証"),
    ],
)
def test_kinds_and_items_are_named_in_the_pages_language(language, kind, item):
    with translation.override(language):
        assert kind_label("qualification_only") == kind
        assert item_label("limit_certificate") == item


def test_an_unknown_code_is_shown_as_it_came():
    assert kind_label("something_new") == "something_new"
    assert item_label("something_new") == "something_new"


def test_the_boards_script_gets_the_same_words_as_the_server_drawn_rows():
    with translation.override("ja"):
        attributes = board_label_attributes()

    assert 'data-label-home_visit="訪問診療・訪問看護"' in attributes
    assert 'data-label-item-medication="薬剤情報（お薬）"' in attributes
    assert 'data-label-item-limit_certificate="限度額適用認定証"' in attributes
