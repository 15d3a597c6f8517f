"""Check digits of 医療機関等コード and 保険者番号, and the reusable field validation."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from homeconsent.registry.codes import (
    is_valid_institution_code,
    is_valid_insurer_number,
    validate_institution_code,
    validate_insurer_number,
    with_check_digit,
)
from homeconsent.registry.validation import RegistryValidationError, clean_date, clean_search_keys

VALID_INSTITUTION_CODES = ["0110113719", with_check_digit("131000001"), with_check_digit("274000123")]
VALID_INSURER_NUMBERS = ["33120015", "01130012", "06130017", "39131016", "130013"]


def single_digit_changes(value):
    for i, ch in enumerate(value):
        for d in "0123456789":
            if d != ch:
                yield value[:i] + d + value[i + 1 :]


@pytest.mark.parametrize("code", VALID_INSTITUTION_CODES)
def test_valid_institution_codes_pass_and_every_single_changed_digit_is_refused(code):
    # given a valid code
    assert is_valid_institution_code(code)
    validate_institution_code(code)
    # when any one digit changes, then the check digit refuses it (Luhn catches every single change)
    refused = [c for c in single_digit_changes(code) if not is_valid_institution_code(c)]
    assert len(refused) == 90


@pytest.mark.parametrize("number", VALID_INSURER_NUMBERS)
def test_valid_insurer_numbers_pass_and_every_single_changed_digit_is_refused(number):
    assert is_valid_insurer_number(number)
    validate_insurer_number(number)
    changed = list(single_digit_changes(number))
    assert all(not is_valid_insurer_number(c) for c in changed), [
        c for c in changed if is_valid_insurer_number(c)
    ]


@pytest.mark.parametrize("value", ["3312001", "331200155", "3312001X", "", "３３１２００１５"])
def test_insurer_numbers_of_wrong_shape_are_refused_with_a_code(value):
    with pytest.raises(ValidationError) as exc:
        validate_insurer_number(value)
    assert exc.value.code == "insurer_number_invalid"


def test_institution_code_with_an_unknown_point_table_is_refused():
    code = with_check_digit("132000001")  # 2 is not a point table
    with pytest.raises(ValidationError) as exc:
        validate_institution_code(code)
    assert exc.value.code == "facility_type_invalid"


def test_search_keys_report_every_bad_field_with_codes_in_both_languages():
    with pytest.raises(RegistryValidationError) as exc:
        clean_search_keys("33120016", "", "", "1", "2001-02-30", today=date(2025, 1, 1))
    by_field = {e.field: e for e in exc.value.errors}
    assert {f: e.code for f, e in by_field.items()} == {
        "insurer_number": "insurer_number_invalid",
        "number": "field_required",
        "branch": "branch_number_invalid",
        "birth_date": "date_invalid",
    }
    assert by_field["branch"].as_dict()["message_en"].startswith("Branch number")
    assert "枝番" in by_field["branch"].as_dict()["message"]


def test_search_keys_keep_symbols_and_numbers_as_strings_in_one_spelling():
    keys = clean_search_keys("130013", " 新ア１２ ", "0012345", "01", "1953-06-12", today=date(2025, 1, 1))
    # leading zeros and kana/kanji kept; full-width digits written as ASCII (normalize_card_key)
    assert (keys.symbol, keys.number, keys.branch, keys.birth_date) == (
        "新ア12",
        "0012345",
        "01",
        date(1953, 6, 12),
    )


@pytest.mark.parametrize(
    "value, code",
    [
        ("2025/01/01", "date_invalid"),
        ("2025-1-1", "date_invalid"),
        ("1899-12-31", "date_too_old"),
        ("2099-01-01", "date_too_far_in_future"),
    ],
)
def test_dates_must_be_iso_and_within_the_accepted_window(value, code):
    with pytest.raises(RegistryValidationError) as exc:
        clean_date(value, "on", today=date(2025, 1, 1))
    assert exc.value.errors[0].code == code


def test_birth_dates_in_the_future_are_refused():
    with pytest.raises(RegistryValidationError) as exc:
        clean_search_keys("33120015", "", "1", "00", "2025-01-02", today=date(2025, 1, 1))
    assert exc.value.errors[0].code == "birth_date_in_future"
