"""The drug master the seeder draws from: rows of the official masters, consistent with themselves."""

import re
from decimal import Decimal

from homeconsent.registry import reference_data as ref

# A few rows as printed in the SSK drug master of 2026-09-30 (code, name, unit, price, YJ code); the
# YJ codes of these are also linked to the receipt code by the MEDIS HOT9 master.
MASTER_ROWS = [
    ("612170710", "ノルバスク錠５ｍｇ", "錠", Decimal("10.80"), "2171022F2025"),
    ("620098801", "ロキソニン錠６０ｍｇ", "錠", Decimal("10.80"), "1149019F1560"),
    ("620002023", "カロナール錠２００　２００ｍｇ", "錠", Decimal("6.50"), "1141007F1063"),
    ("612320350", "ガスター錠２０ｍｇ", "錠", Decimal("10.80"), "2325003F2020"),
]


def test_pinned_master_rows_are_carried_unchanged():
    by_code = {d.receipt_code: d for d in ref.DRUGS}
    for code, name, unit, price, yj in MASTER_ROWS:
        drug = by_code[code]
        assert (drug.name, drug.unit, drug.price_yen, drug.yj_code) == (name, unit, price, yj)


def test_codes_have_the_masters_shapes_and_name_one_product_each():
    receipt_codes = [d.receipt_code for d in ref.DRUGS]
    yj_codes = [d.yj_code for d in ref.DRUGS if d.yj_code]

    assert len(set(receipt_codes)) == len(receipt_codes) and len(set(yj_codes)) == len(yj_codes)
    assert all(re.fullmatch(r"6[0-9]{8}", c) for c in receipt_codes)
    # YJ: 7 digits of class and ingredient, the dosage form letter, then 4 characters
    assert all(re.fullmatch(r"[0-9]{7}[A-Z][0-9]{3}[0-9A-Z]", c) for c in yj_codes)


def test_products_of_one_ingredient_share_the_yj_ingredient_part():
    by_ingredient = {}
    for drug in ref.DRUGS:
        if drug.yj_code:
            by_ingredient.setdefault(drug.ingredient, set()).add(drug.yj_code[:7])
    assert all(len(parts) == 1 for parts in by_ingredient.values())


def test_every_regimen_and_acute_choice_names_a_drug_of_its_kind():
    chronic = {key for keys in ref.REGIMENS.values() for key in keys}
    assert chronic <= {d.key for d in ref.DRUGS if d.chronic}
    assert set(ref.ACUTE_DRUGS) <= {d.key for d in ref.DRUGS if not d.chronic}
    assert all(d.price_yen > 0 and d.dose_per_day > 0 for d in ref.DRUGS)
