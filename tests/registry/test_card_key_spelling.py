"""記号 and 番号 in one spelling: 12 finds １２ and the other way round, at every write and lookup."""

import importlib
from datetime import date

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from homeconsent.registry.eligibility import Validity, resolve_by_keys, resolve_many_by_keys
from homeconsent.registry.imports import import_qualifications
from homeconsent.registry.models import InsurerKind, Qualification
from homeconsent.registry.seeding import seed_registry
from homeconsent.registry.validation import SearchKeys, normalize_card_key

from .conftest import ON

HEADER = (
    "op,insurer_number,symbol,number,branch,personal_family,name,name_kana,sex,birth_date,acquired_on,"
    "lost_on,reason_of_loss,contribution_ratio,card_classification,previous_symbol,previous_number"
)


@pytest.mark.parametrize(
    "given, stored",
    [
        ("１２", "12"),
        (" 12 ", "12"),
        ("\u3000新ア１２\u3000", "新ア12"),
        ("ＡＢ３", "AB3"),
        ("ｱｲ12", "アイ12"),
        ("本部", "本部"),
        ("0012345", "0012345"),
    ],
)
def test_normalize_card_key_makes_digits_and_letters_ascii_and_keeps_kana_and_kanji(given, stored):
    assert normalize_card_key(given) == stored


def test_a_lookup_with_half_width_digits_finds_an_import_with_full_width_ones(kyokai, tmp_path):
    # given a period imported as 記号 １２, 番号 ００３４
    path = tmp_path / "q.csv"
    path.write_text(
        f"{HEADER}\nnew,01130012,１２,００３４,00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2020-04-01,,,030,01,,\n"
    )
    assert import_qualifications(path).applied
    assert Qualification.objects.get().symbol == "12" and Qualification.objects.get().number == "0034"
    # when looked up in either spelling, then it is found
    assert resolve_by_keys("01130012", "12", "0034", "00", "1980-04-10", on=ON).validity == Validity.VALID
    assert (
        resolve_by_keys("01130012", "１２", "００３４", "00", "1980-04-10", on=ON).validity == Validity.VALID
    )


def test_import_replays_and_changes_match_across_spellings(kyokai, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(
        f"{HEADER}\nnew,01130012,１２,34,00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2020-04-01,,,030,01,,\n"
    )
    import_qualifications(first)
    # the same period sent again in half-width is the same period, not a second one
    again = tmp_path / "again.csv"
    again.write_text(
        f"{HEADER}\nnew,01130012,12,３４,00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2020-04-01,,,030,01,,\n"
    )
    assert import_qualifications(again).unchanged == 1
    # a change naming the previous keys in full-width finds the open period
    move = tmp_path / "move.csv"
    move.write_text(
        f"{HEADER}\nchange,01130012,99,1,00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2024-04-01,,,030,01,"
        f"１２,３４\n"
    )
    assert import_qualifications(move).applied
    assert Qualification.objects.count() == 2
    assert (
        resolve_by_keys("01130012", "12", "34", "00", "1980-04-10", on=ON).validity
        == Validity.LOST_WITH_NEWER
    )


def test_hand_built_keys_are_normalised_by_single_and_bulk_lookups(kyokai, make_person, make_period):
    make_period(make_person(), kyokai, symbol="12", number="34")
    full = SearchKeys("01130012", "１２", "３４", "00", date(1980, 4, 10))
    assert resolve_by_keys(full, None, None, None, None, ON).validity == Validity.VALID
    [result] = resolve_many_by_keys([full], ON)
    assert result.validity == Validity.VALID


def test_bulk_lookup_in_mixed_spellings_keeps_a_fixed_number_of_queries(db):
    seed_registry(40, seed=5, as_of=ON)
    periods = list(Qualification.objects.select_related("insurer", "person"))
    widen = str.maketrans("0123456789", "０１２３４５６７８９")
    keys = [
        SearchKeys(
            q.insurer.number,
            q.symbol.translate(widen),
            q.number.translate(widen),
            q.branch,
            q.person.birth_date,
        )
        for q in periods
    ]
    with CaptureQueriesContext(connection) as few:
        resolve_many_by_keys(keys[:5], ON, include_limit=True)
    with CaptureQueriesContext(connection) as many:
        results = resolve_many_by_keys(keys, ON, include_limit=True)
    assert len(many) <= 8 and len(few) <= 8  # the same fixed number (公費 added one), whatever the keys
    assert all(r.validity != Validity.NONE for r in results)  # every seeded period found in full-width


def test_seeding_stores_keys_in_one_spelling(db):
    seed_registry(60, seed=3, as_of=ON)
    kokuho = Qualification.objects.filter(insurer__kind=InsurerKind.KOKUHO)
    assert kokuho.exists()  # their 記号 are printed with full-width digits
    for symbol, number in Qualification.objects.values_list("symbol", "number"):
        assert (symbol, number) == (normalize_card_key(symbol), normalize_card_key(number))


def test_the_data_migration_normalises_rows_stored_before(kyokai, make_person, make_period):
    # given rows written before normalisation (directly, as the old import did)
    old = make_period(make_person(), kyokai, symbol="新ア１２", number="００１２３４５")
    kept = make_period(
        make_person(name="佐藤 花子", birth_date=date(1990, 1, 1)), kyokai, symbol="本部", number="77"
    )
    migration = importlib.import_module("homeconsent.registry.migrations.0002_normalize_card_keys")
    # when the migration runs
    migration.normalize_card_keys(apps, connection.schema_editor())
    # then the stored keys are in the lookup spelling and found by either spelling
    old.refresh_from_db()
    kept.refresh_from_db()
    assert (old.symbol, old.number) == ("新ア12", "0012345")
    assert (kept.symbol, kept.number) == ("本部", "77")
    assert (
        resolve_by_keys("01130012", "新ア１２", "0012345", "00", "1980-04-10", on=ON).validity
        == Validity.VALID
    )
