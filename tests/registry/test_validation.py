"""Validation of import rows: required fields, code lists, dates, coded errors per field."""

from datetime import date

import pytest

from homeconsent.registry.validation import validate_qualification_row

TODAY = date(2025, 6, 1)
GOOD = {
    "op": "new",
    "insurer_number": "01130012",
    "symbol": "1234",
    "number": "5678",
    "branch": "00",
    "personal_family": "1",
    "name": "山田 太郎",
    "name_kana": "ヤマダ タロウ",
    "sex": "1",
    "birth_date": "1980-04-10",
    "acquired_on": "2020-04-01",
    "contribution_ratio": "030",
    "card_classification": "01",
}


def codes(data):
    row, errors = validate_qualification_row(data, 7, today=TODAY)
    return row, {(e.field, e.code) for e in errors}, errors


def test_a_good_row_is_cleaned():
    row, found, _ = codes(GOOD)
    assert found == set()
    assert row.acquired_on == date(2020, 4, 1) and row.keys == ("01130012", "1234", "5678", "00")


@pytest.mark.parametrize(
    "field, value, code",
    [
        ("op", "update", "code_not_in_list"),
        ("sex", "3", "code_not_in_list"),
        ("personal_family", "0", "code_not_in_list"),
        ("contribution_ratio", "30", "code_not_in_list"),
        ("card_classification", "9", "code_not_in_list"),
        ("reason_of_loss", "04", "code_not_in_list"),
        ("insurer_number", "01130013", "insurer_number_invalid"),
        ("branch", "0", "branch_number_invalid"),
        ("birth_date", "1980-02-30", "date_invalid"),
        ("acquired_on", "2099-04-01", "date_too_far_in_future"),
        ("name_kana", "やまだ たろう", "kana_invalid"),
        ("name", "", "field_required"),
        ("number", "", "field_required"),
    ],
)
def test_each_bad_field_is_named_with_its_code_and_line(field, value, code):
    data = dict(GOOD, **{field: value})
    if field == "reason_of_loss":
        data["lost_on"] = "2024-01-01"
    row, found, errors = codes(data)
    assert row is None
    assert (field, code) in found
    assert all(e.line == 7 for e in errors)


def test_lost_on_not_before_acquired_on():
    _, found, _ = codes(dict(GOOD, lost_on="2020-03-31", reason_of_loss="03"))
    assert ("lost_on", "lost_before_acquired") in found


def test_a_loss_needs_its_date_and_reason_but_not_the_person_fields():
    base = {k: GOOD[k] for k in ("insurer_number", "symbol", "number", "branch", "birth_date")}
    row, found, _ = codes(dict(base, op="loss", lost_on="2025-03-31", reason_of_loss="03"))
    assert found == set() and row.lost_on == date(2025, 3, 31)
    _, found, _ = codes(dict(base, op="loss", lost_on="2025-03-31"))
    assert ("reason_of_loss", "loss_needs_reason") in found


def test_a_reason_without_a_date_of_loss_is_refused():
    _, found, _ = codes(dict(GOOD, reason_of_loss="01"))
    assert ("reason_of_loss", "reason_without_loss") in found
