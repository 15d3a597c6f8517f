"""Validation of registry input: one home for the rules the import, the eligibility command and the
API apply to qualification data.

Every refusal is a coded error (homeconsent.errors) tied to the field it concerns, so a report can
say "line 7, birth_date: date_invalid: ..." in Japanese and English.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils import timezone

from homeconsent.errors import ErrorCode, HomeConsentError

from .codes import (
    BRANCH_INVALID,
    FACILITY_TYPES,
    INSTITUTION_CODE_INVALID,
    INSURER_NUMBER_INVALID,
    MUNICIPALITY_CODE_INVALID,
    PAYER_NUMBER_INVALID,
    PROGRAMME_MISMATCH,
    PROGRAMMES_WITHOUT_RECIPIENT_NUMBER,
    RECIPIENT_NUMBER_INVALID,
    is_valid_branch,
    is_valid_institution_code,
    is_valid_insurer_number,
    is_valid_municipality_code,
    is_valid_payer_number,
    is_valid_recipient_number,
)
from .models import (
    CardClassification,
    ContributionRatio,
    PersonalFamily,
    PublicExpenseProgramme,
    ReasonOfLoss,
    Sex,
)

FIELD_REQUIRED = ErrorCode(
    "field_required",
    "「{field}」は必須です。値を入れてください。",
    "'{field}' is required: give a value.",
)
DATE_INVALID = ErrorCode(
    "date_invalid",
    "「{field}」の日付「{value}」は読めません。YYYY-MM-DD（例: 2024-04-01）で書いてください。",
    "'{field}': the date '{value}' cannot be read; write it as YYYY-MM-DD, for example 2024-04-01.",
)
DATE_TOO_FAR_IN_FUTURE = ErrorCode(
    "date_too_far_in_future",
    "「{field}」の日付 {value} は先すぎます（{limit} まで）。",
    "'{field}': the date {value} is too far in the future (the latest accepted is {limit}).",
)
DATE_TOO_OLD = ErrorCode(
    "date_too_old",
    "「{field}」の日付 {value} は古すぎます（{limit} 以降）。",
    "'{field}': the date {value} is too far in the past (the earliest accepted is {limit}).",
)
BIRTH_DATE_IN_FUTURE = ErrorCode(
    "birth_date_in_future",
    "生年月日 {value} が未来の日付です。",
    "The birth date {value} is in the future.",
)
LOST_BEFORE_ACQUIRED = ErrorCode(
    "lost_before_acquired",
    "資格喪失年月日 {lost_on} が資格取得年月日 {acquired_on} より前です。",
    "The date of loss {lost_on} is before the date of acquisition {acquired_on}.",
)
ACQUIRED_BEFORE_BIRTH = ErrorCode(
    "acquired_before_birth",
    "資格取得年月日 {acquired_on} が生年月日 {birth_date} より前です。",
    "The date of acquisition {acquired_on} is before the birth date {birth_date}.",
)
CODE_NOT_IN_LIST = ErrorCode(
    "code_not_in_list",
    "「{field}」の値「{value}」は使えません。使える値: {allowed}",
    "'{field}': the value '{value}' is not allowed; allowed values: {allowed}",
)
LOSS_NEEDS_REASON = ErrorCode(
    "loss_needs_reason",
    "資格喪失（loss）には喪失事由（reason_of_loss）と資格喪失年月日（lost_on）が必要です。",
    "A loss needs both the reason of loss (reason_of_loss) and the date of loss (lost_on).",
)
REASON_WITHOUT_LOSS = ErrorCode(
    "reason_without_loss",
    "喪失事由（reason_of_loss）は資格喪失年月日（lost_on）と一緒に指定してください。",
    "A reason of loss (reason_of_loss) is only given together with a date of loss (lost_on).",
)
KANA_INVALID = ErrorCode(
    "kana_invalid",
    "氏名カナ「{value}」は全角カタカナ（と空白）で書いてください。",
    "Name kana '{value}' must be written in full-width katakana (and spaces).",
)
VALID_UNTIL_BEFORE_FROM = ErrorCode(
    "valid_until_before_from",
    "有効終了年月日 {valid_until} が有効開始年月日 {valid_from} より前です。",
    "The end of validity {valid_until} is before its start {valid_from}.",
)
AMOUNT_INVALID = ErrorCode(
    "amount_invalid",
    "「{field}」の金額「{value}」は読めません。円の整数（例: 10000）で書いてください。",
    "'{field}': the amount '{value}' cannot be read; write whole yen, for example 10000.",
)
CHARACTERS_INVALID = ErrorCode(
    "characters_invalid",
    "「{field}」に使えない文字（NUL や壊れた文字）が入っています。カードや書類に書かれたとおりに入れてください。",
    "'{field}' holds characters it cannot have (NUL or a broken character); type it as the card or "
    "document shows it.",
)
# What no stored text may hold: NUL (PostgreSQL's text cannot) and lone surrogates (not UTF-8); DRF's
# CharField refuses both too, but a batch's entries and an import's rows do not pass through it.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
TEXT_TOO_LONG = ErrorCode(
    "text_too_long",
    "「{field}」は {max_length} 文字までです。",
    "'{field}' takes at most {max_length} characters.",
)

# Dates accepted in registry input: no qualification before the statutory system, none registered
# more than about a year ahead (a far-future date is a typing error, not a plan).
EARLIEST_DATE = date(1900, 1, 1)
FUTURE_WINDOW = timedelta(days=366)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KANA = re.compile(r"^[ァ-ヶー・ 　]+$")


@dataclass
class FieldError:
    """One refusal tied to a field (and, for files, a line)."""

    field: str
    error: HomeConsentError
    line: int | None = None

    @property
    def code(self) -> str:
        return self.error.code

    def as_dict(self) -> dict:
        out = {"field": self.field, **self.error.as_dict()}
        if self.line is not None:
            out = {"line": self.line, **out}
        return out

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        return f"{where}{self.field}: {self.error}"


@dataclass
class RegistryValidationError(Exception):
    errors: list[FieldError] = field(default_factory=list)

    def __post_init__(self):
        super().__init__("; ".join(str(e) for e in self.errors))


def _choices_text(choices) -> str:
    return ", ".join(f"{value}（{label}）" for value, label in choices)


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def normalize_card_key(value) -> str:
    """記号 or 番号 as stored and as looked up: one spelling for what a card shows.

    Cards and systems write the same key with full-width or half-width digits (１２ / 12); NFKC
    makes full-width digits and Latin letters ASCII and half-width kana full-width, and leaves
    kanji and full-width kana as they are. Surrounding spaces (also U+3000) are dropped. Used at
    every write (import, seeding, the data migration) and every lookup (eligibility, requery, batch).
    """
    return unicodedata.normalize("NFKC", _text(value)).strip()


class Collector:
    """Gathers every error of one record instead of stopping at the first."""

    def __init__(self, line: int | None = None):
        self.line = line
        self.errors: list[FieldError] = []

    def add(self, field_name: str, error: ErrorCode, **params):
        self.errors.append(FieldError(field_name, error(**params), self.line))

    def has(self, field_name: str) -> bool:
        return any(e.field == field_name for e in self.errors)

    def required(self, data: dict, field_name: str) -> str:
        value = _text(data.get(field_name))
        if not value:
            self.add(field_name, FIELD_REQUIRED, field=field_name)
        return value

    def insurer_number(self, value: str, field_name: str = "insurer_number") -> str:
        if value and not is_valid_insurer_number(value):
            self.add(field_name, INSURER_NUMBER_INVALID, value=value)
        return value

    def institution_code(self, value: str, field_name: str = "institution_code") -> str:
        if value and not (is_valid_institution_code(value) and value[2] in FACILITY_TYPES):
            self.add(field_name, INSTITUTION_CODE_INVALID, value=value)
        return value

    def branch(self, value: str, field_name: str = "branch") -> str:
        if value and not is_valid_branch(value):
            self.add(field_name, BRANCH_INVALID, value=value)
        return value

    def choice(self, value: str, choices, field_name: str) -> str:
        if value and value not in {v for v, _ in choices}:
            self.add(
                field_name, CODE_NOT_IN_LIST, field=field_name, value=value, allowed=_choices_text(choices)
            )
        return value

    def date(self, value: str, field_name: str, today: date, *, birth: bool = False) -> date | None:
        if not value:
            return None
        parsed = None
        if _DATE.match(value):
            try:
                parsed = date.fromisoformat(value)
            except ValueError:
                parsed = None
        if parsed is None:
            self.add(field_name, DATE_INVALID, field=field_name, value=value)
            return None
        if parsed < EARLIEST_DATE:
            self.add(field_name, DATE_TOO_OLD, field=field_name, value=value, limit=EARLIEST_DATE.isoformat())
            return None
        if birth and parsed > today:
            self.add(field_name, BIRTH_DATE_IN_FUTURE, value=value)
            return None
        limit = today + FUTURE_WINDOW
        if parsed > limit:
            self.add(
                field_name, DATE_TOO_FAR_IN_FUTURE, field=field_name, value=value, limit=limit.isoformat()
            )
            return None
        return parsed

    def max_length(self, value: str, field_name: str, max_length: int) -> str:
        if UNSTORABLE.search(value):
            self.add(field_name, CHARACTERS_INVALID, field=field_name)
            return value
        if len(value) > max_length:
            self.add(field_name, TEXT_TOO_LONG, field=field_name, max_length=max_length)
        return value


# --- search keys (eligibility) ----------------------------------------------------------------


@dataclass(frozen=True)
class SearchKeys:
    """The national search keys: InsurerNumber, InsuredCardSymbol, InsuredIdentificationNumber,
    InsuredBranchNumber, Birthdate."""

    insurer_number: str
    symbol: str
    number: str
    branch: str
    birth_date: date


def clean_search_keys(
    insurer_number, symbol, number, branch, birth_date, *, today: date | None = None
) -> SearchKeys:
    """Validate search keys; raise RegistryValidationError listing every bad field."""
    today = today or timezone.localdate()
    c = Collector()
    data = {"insurer_number": insurer_number, "number": number, "branch": branch}
    ins = c.insurer_number(c.required(data, "insurer_number"))
    num = c.max_length(normalize_card_key(c.required(data, "number")), "number", 38)
    br = c.branch(c.required(data, "branch"))
    sym = c.max_length(normalize_card_key(symbol), "symbol", 38)
    if isinstance(birth_date, date):
        born = birth_date
    else:
        born = c.date(c.required({"birth_date": birth_date}, "birth_date"), "birth_date", today, birth=True)
    if c.errors:
        raise RegistryValidationError(c.errors)
    return SearchKeys(ins, sym, num, br, born)


def clean_date(value, field_name: str, *, today: date | None = None) -> date:
    """One date in YYYY-MM-DD, within the accepted window."""
    if isinstance(value, date):
        return value
    c = Collector()
    parsed = c.date(c.required({field_name: value}, field_name), field_name, today or timezone.localdate())
    if c.errors:
        raise RegistryValidationError(c.errors)
    return parsed


# --- qualification rows (import) ---------------------------------------------------------------

OPERATIONS = (("new", "資格取得"), ("change", "資格変更"), ("loss", "資格喪失"), ("correct", "訂正"))
KEY_FIELDS = ("insurer_number", "symbol", "number", "branch")
PREVIOUS_KEY_FIELDS = tuple(f"previous_{f}" for f in KEY_FIELDS)


@dataclass
class QualificationRow:
    """One validated import row; names follow docs/import-format.md."""

    line: int
    op: str
    insurer_number: str
    symbol: str
    number: str
    branch: str
    birth_date: date
    personal_family: str = ""
    name: str = ""
    name_kana: str = ""
    sex: str = ""
    acquired_on: date | None = None
    lost_on: date | None = None
    reason_of_loss: str = ""
    contribution_ratio: str = ""
    card_classification: str = ""
    insured_name: str = ""
    preschool: bool = False
    address: str = ""
    postal_code: str = ""
    municipality_code: str = ""
    previous_insurer_number: str = ""
    previous_symbol: str = ""
    previous_number: str = ""
    previous_branch: str = ""

    @property
    def keys(self) -> tuple:
        return (self.insurer_number, self.symbol, self.number, self.branch)

    @property
    def previous_keys(self) -> tuple | None:
        if not self.previous_number:
            return None
        return (
            self.previous_insurer_number or self.insurer_number,
            self.previous_symbol,
            self.previous_number,
            self.previous_branch or self.branch,
        )


_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"", "0", "false", "no", "n", "off"}


def validate_qualification_row(data: dict, line: int, *, today: date | None = None):
    """Validate one import row. Returns (QualificationRow or None, [FieldError])."""
    today = today or timezone.localdate()
    c = Collector(line)
    get = lambda name: _text(data.get(name))  # noqa: E731

    op = c.choice(c.required(data, "op"), OPERATIONS, "op")
    insurer_number = c.insurer_number(c.required(data, "insurer_number"))
    symbol = c.max_length(normalize_card_key(get("symbol")), "symbol", 38)
    number = c.max_length(normalize_card_key(c.required(data, "number")), "number", 38)
    branch = c.branch(c.required(data, "branch"))
    birth_date = c.date(c.required(data, "birth_date"), "birth_date", today, birth=True)

    # new, change and correct describe a whole period; loss only closes one.
    full = op in ("new", "change", "correct")
    pick = c.required if full else (lambda d, n: get(n))
    personal_family = c.choice(pick(data, "personal_family"), PersonalFamily.choices, "personal_family")
    sex = c.choice(pick(data, "sex"), Sex.choices, "sex")
    name = c.max_length(pick(data, "name"), "name", 100)
    name_kana = c.max_length(pick(data, "name_kana"), "name_kana", 200)
    if name_kana and not _KANA.match(name_kana):
        c.add("name_kana", KANA_INVALID, value=name_kana)
    acquired_on = c.date(pick(data, "acquired_on"), "acquired_on", today)
    contribution_ratio = c.choice(
        pick(data, "contribution_ratio"), ContributionRatio.choices, "contribution_ratio"
    )
    card_classification = c.choice(
        get("card_classification") or (CardClassification.GENERAL if full else ""),
        CardClassification.choices,
        "card_classification",
    )
    lost_on = c.date(get("lost_on"), "lost_on", today)
    reason_of_loss = c.choice(get("reason_of_loss"), ReasonOfLoss.choices, "reason_of_loss")
    if op == "loss" and not (get("lost_on") and get("reason_of_loss")):
        c.add("lost_on" if not get("lost_on") else "reason_of_loss", LOSS_NEEDS_REASON)
    if op != "loss" and reason_of_loss and not get("lost_on"):
        c.add("reason_of_loss", REASON_WITHOUT_LOSS)
    if acquired_on and lost_on and lost_on < acquired_on:
        c.add(
            "lost_on", LOST_BEFORE_ACQUIRED, lost_on=lost_on.isoformat(), acquired_on=acquired_on.isoformat()
        )
    if acquired_on and birth_date and acquired_on < birth_date:
        c.add(
            "acquired_on",
            ACQUIRED_BEFORE_BIRTH,
            acquired_on=acquired_on.isoformat(),
            birth_date=birth_date.isoformat(),
        )
    preschool_text = get("preschool").lower()
    if preschool_text not in _TRUE | _FALSE:
        c.add("preschool", CODE_NOT_IN_LIST, field="preschool", value=preschool_text, allowed="0, 1")
    previous = {name_: get(name_) for name_ in PREVIOUS_KEY_FIELDS}
    for name_ in ("previous_symbol", "previous_number"):
        previous[name_] = c.max_length(normalize_card_key(previous[name_]), name_, 38)
    if previous["previous_insurer_number"]:
        c.insurer_number(previous["previous_insurer_number"], "previous_insurer_number")
    if previous["previous_branch"]:
        c.branch(previous["previous_branch"], "previous_branch")
    if any(previous.values()) and not previous["previous_number"]:
        c.add("previous_number", FIELD_REQUIRED, field="previous_number")
    postal_code = get("postal_code").replace("-", "")
    if postal_code and not re.fullmatch(r"\d{7}", postal_code):
        c.add("postal_code", CODE_NOT_IN_LIST, field="postal_code", value=postal_code, allowed="7 digits")
    # 全国地方公共団体コード of the address: what a disaster scope lists (special_access).
    municipality_code = get("municipality_code")
    if municipality_code and not is_valid_municipality_code(municipality_code):
        c.add("municipality_code", MUNICIPALITY_CODE_INVALID, value=municipality_code)

    insured_name = c.max_length(get("insured_name"), "insured_name", 100)
    if c.errors:
        return None, c.errors
    return (
        QualificationRow(
            line=line,
            op=op,
            insurer_number=insurer_number,
            symbol=symbol,
            number=number,
            branch=branch,
            birth_date=birth_date,
            personal_family=personal_family,
            name=name,
            name_kana=name_kana,
            sex=sex,
            acquired_on=acquired_on,
            lost_on=lost_on,
            reason_of_loss=reason_of_loss,
            contribution_ratio=contribution_ratio,
            card_classification=card_classification,
            insured_name=insured_name,
            preschool=preschool_text in _TRUE,
            address=get("address")[:200],
            postal_code=postal_code,
            municipality_code=municipality_code,
            **previous,
        ),
        [],
    )


# --- public-expense certificates (公費, import) --------------------------------------------------


@dataclass
class PublicExpenseRow:
    """One validated row of a public-expense file (docs/import-format.md): the person by the card
    keys of an insurance period, and one certificate."""

    line: int
    insurer_number: str
    symbol: str
    number: str
    branch: str
    birth_date: date
    programme: str
    payer_number: str
    recipient_number: str
    valid_from: date
    valid_until: date | None
    monthly_self_pay_limit: int | None
    designated_institutions: str

    @property
    def keys(self) -> tuple:
        return (self.insurer_number, self.symbol, self.number, self.branch)


def validate_public_expense_row(data: dict, line: int, *, today: date | None = None):
    """Validate one public-expense row. Returns (PublicExpenseRow or None, [FieldError])."""
    today = today or timezone.localdate()
    c = Collector(line)
    get = lambda name: _text(data.get(name))  # noqa: E731

    insurer_number = c.insurer_number(c.required(data, "insurer_number"))
    symbol = c.max_length(normalize_card_key(get("symbol")), "symbol", 38)
    number = c.max_length(normalize_card_key(c.required(data, "number")), "number", 38)
    branch = c.branch(c.required(data, "branch"))
    birth_date = c.date(c.required(data, "birth_date"), "birth_date", today, birth=True)
    programme = c.choice(c.required(data, "programme"), PublicExpenseProgramme.choices, "programme")
    payer_number = c.required(data, "payer_number")
    if payer_number and not is_valid_payer_number(payer_number):
        c.add("payer_number", PAYER_NUMBER_INVALID, value=payer_number)
    elif payer_number and programme and not c.has("programme") and payer_number[:2] != programme:
        c.add("payer_number", PROGRAMME_MISMATCH, value=payer_number, programme=programme)
    if programme in PROGRAMMES_WITHOUT_RECIPIENT_NUMBER:
        recipient_number = get("recipient_number")
    else:
        recipient_number = c.required(data, "recipient_number")
    if recipient_number and not is_valid_recipient_number(recipient_number):
        c.add("recipient_number", RECIPIENT_NUMBER_INVALID, value=recipient_number)
    valid_from = c.date(c.required(data, "valid_from"), "valid_from", today)
    valid_until = c.date(get("valid_until"), "valid_until", today)
    if valid_from and valid_until and valid_until < valid_from:
        c.add(
            "valid_until",
            VALID_UNTIL_BEFORE_FROM,
            valid_until=valid_until.isoformat(),
            valid_from=valid_from.isoformat(),
        )
    limit_text = get("monthly_self_pay_limit").replace(",", "")
    limit = None
    if limit_text:
        if limit_text.isascii() and limit_text.isdigit() and len(limit_text) <= 9:
            limit = int(limit_text)
        else:
            c.add("monthly_self_pay_limit", AMOUNT_INVALID, field="monthly_self_pay_limit", value=limit_text)
    codes = get("designated_institutions").replace(",", " ").split()
    for code in codes:
        c.institution_code(code, "designated_institutions")
    if len(codes) > 100:
        c.add("designated_institutions", TEXT_TOO_LONG, field="designated_institutions", max_length=1100)
    if c.errors:
        return None, c.errors
    return (
        PublicExpenseRow(
            line=line,
            insurer_number=insurer_number,
            symbol=symbol,
            number=number,
            branch=branch,
            birth_date=birth_date,
            programme=programme,
            payer_number=payer_number,
            recipient_number=recipient_number,
            valid_from=valid_from,
            valid_until=valid_until,
            monthly_self_pay_limit=limit,
            designated_institutions=" ".join(codes),
        ),
        [],
    )
