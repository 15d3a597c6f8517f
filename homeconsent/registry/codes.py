"""Codes of the national interface and their validation (check digits, 枝番, code lists).

One home for the versioned code lists of reference/domain.md.
"""

import re

from django.core.exceptions import ValidationError

from homeconsent.errors import ErrorCode


def check_digit(payload: str) -> int:
    """Luhn-style check digit used by 医療機関等コード and 保険者番号.

    From the rightmost payload digit multiply by 2, 1, 2, 1, ...; add the digits of each product;
    check = (10 - sum mod 10) mod 10.
    """
    total = 0
    for i, ch in enumerate(reversed(payload)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def municipality_check_digit(payload: str) -> int:
    """Check digit of a 全国地方公共団体コード (JIS X 0402): weights 6,5,4,3,2 over the five digits;
    check = the last digit of 11 - (sum mod 11)."""
    total = sum(int(ch) * weight for ch, weight in zip(payload, (6, 5, 4, 3, 2)))
    return (11 - total % 11) % 10


def municipality_code(payload: str) -> str:
    """The six-digit code of a five-digit 団体コード."""
    return f"{payload}{municipality_check_digit(payload)}"


def is_valid_municipality_code(value: str) -> bool:
    """Six digits: prefecture (2), municipality (3), check digit."""
    return (
        isinstance(value, str)
        and len(value) == 6
        and value.isascii()
        and value.isdigit()
        and "01" <= value[:2] <= "47"
        and municipality_check_digit(value[:5]) == int(value[5])
    )


MUNICIPALITY_CODE_INVALID = ErrorCode(
    "municipality_code_invalid",
    "市区町村コード「{value}」は正しくありません。6桁の全国地方公共団体コード（最後の1桁は検査数字）で入力してください。",
    "Municipality code '{value}' is not valid: enter the 6-digit local government code (the last digit is a "
    "check digit).",
)


def validate_municipality_code(value):
    if value and not is_valid_municipality_code(value):
        _raise(MUNICIPALITY_CODE_INVALID, value)


INSTITUTION_CODE_INVALID = ErrorCode(
    "institution_code_invalid",
    "医療機関等コード「{value}」は正しくありません。10桁の数字で、最後の1桁（検証番号）が合っているか確かめてください。",
    "Institution code '{value}' is not valid: it must be 10 digits with a correct check digit (the last digit).",
)
INSURER_NUMBER_INVALID = ErrorCode(
    "insurer_number_invalid",
    "保険者番号「{value}」は正しくありません。8桁（国民健康保険は6桁）の数字で、最後の1桁（検証番号）が合っているか確かめてください。",
    "Insurer number '{value}' is not valid: it must be 8 digits (6 for National Health Insurance) "
    "with a correct check digit (the last digit).",
)
BRANCH_INVALID = ErrorCode(
    "branch_number_invalid",
    "枝番「{value}」は正しくありません。2桁の数字（例: 01）で入力してください。",
    "Branch number (枝番) '{value}' is not valid: enter two digits, for example 01.",
)
FACILITY_TYPE_INVALID = ErrorCode(
    "facility_type_invalid",
    "医療機関等コード「{value}」の点数表番号（3桁目）は 1 医科・3 歯科・4 調剤・6 訪問看護 のいずれかです。",
    "Institution code '{value}': the point-table digit (third digit) must be 1 medical, 3 dental, "
    "4 pharmacy or 6 home-visit nursing.",
)

_DIGITS = re.compile(r"^[0-9]+$")

FACILITY_TYPES = {"1": "医科", "3": "歯科", "4": "調剤", "6": "訪問看護"}


def is_valid_institution_code(value: str) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 10
        and bool(_DIGITS.match(value))
        and check_digit(value[:9]) == int(value[9])
    )


def is_valid_insurer_number(value: str) -> bool:
    return (
        isinstance(value, str)
        and len(value) in (6, 8)
        and bool(_DIGITS.match(value))
        and check_digit(value[:-1]) == int(value[-1])
    )


def is_valid_branch(value: str) -> bool:
    return isinstance(value, str) and len(value) == 2 and bool(_DIGITS.match(value))


def _raise(error: ErrorCode, value):
    err = error(value=value)
    raise ValidationError(err.message(), code=err.code, params={"value": value})


def validate_institution_code(value):
    if not is_valid_institution_code(value):
        _raise(INSTITUTION_CODE_INVALID, value)
    if value[2] not in FACILITY_TYPES:
        _raise(FACILITY_TYPE_INVALID, value)


def validate_insurer_number(value):
    if not is_valid_insurer_number(value):
        _raise(INSURER_NUMBER_INVALID, value)


def validate_branch(value):
    if not is_valid_branch(value):
        _raise(BRANCH_INVALID, value)


def with_check_digit(payload: str) -> str:
    return payload + str(check_digit(payload))


# --- 公費 (public-expense medical aid) -----------------------------------------------------------

# 法別番号 of the common programmes (the first two digits of the 公費負担者番号).
PUBLIC_EXPENSE_PROGRAMMES = {
    "10": "結核患者の適正医療（感染症法）",
    "12": "生活保護 医療扶助",
    "15": "自立支援医療 更生医療",
    "16": "自立支援医療 育成医療",
    "21": "自立支援医療 精神通院医療",
    "52": "小児慢性特定疾病医療支援",
    "54": "難病 特定医療費",
}
# 医療扶助 issues no 受給者番号 to the person in many municipalities: the number may be absent.
PROGRAMMES_WITHOUT_RECIPIENT_NUMBER = {"12"}

PAYER_NUMBER_INVALID = ErrorCode(
    "public_payer_number_invalid",
    "公費負担者番号「{value}」は正しくありません。8桁の数字（法別番号2桁・都道府県2桁・実施機関3桁・検証番号1桁）"
    "で、最後の1桁（検証番号）が合っているか確かめてください。",
    "Public payer number (公費負担者番号) '{value}' is not valid: it must be 8 digits (programme 2, prefecture 2, "
    "agency 3, check digit 1) with a correct check digit (the last digit).",
)
RECIPIENT_NUMBER_INVALID = ErrorCode(
    "public_recipient_number_invalid",
    "受給者番号「{value}」は正しくありません。7桁の数字で、最後の1桁（検証番号）が合っているか確かめてください。",
    "Recipient number (受給者番号) '{value}' is not valid: it must be 7 digits with a correct check digit "
    "(the last digit).",
)
PROGRAMME_MISMATCH = ErrorCode(
    "public_programme_mismatch",
    "公費負担者番号「{value}」の先頭2桁が法別番号「{programme}」と違います。",
    "Public payer number '{value}' does not begin with the programme number (法別番号) '{programme}'.",
)


def is_valid_payer_number(value: str) -> bool:
    """8 digits: 法別番号 2 + 都道府県 01-47 + 実施機関 3 + check digit (the insurer-number rule)."""
    return (
        isinstance(value, str)
        and len(value) == 8
        and bool(_DIGITS.match(value))
        and "01" <= value[2:4] <= "47"
        and check_digit(value[:7]) == int(value[7])
    )


def is_valid_recipient_number(value: str) -> bool:
    """7 digits: 6 + check digit (the insurer-number rule)."""
    return (
        isinstance(value, str)
        and len(value) == 7
        and bool(_DIGITS.match(value))
        and check_digit(value[:6]) == int(value[6])
    )


def validate_payer_number(value):
    if not is_valid_payer_number(value):
        _raise(PAYER_NUMBER_INVALID, value)


def validate_recipient_number(value):
    if value and not is_valid_recipient_number(value):
        _raise(RECIPIENT_NUMBER_INVALID, value)


def validate_institution_codes(value):
    """Designated institutions: 医療機関等コード separated by spaces."""
    for code in (value or "").split():
        validate_institution_code(code)
