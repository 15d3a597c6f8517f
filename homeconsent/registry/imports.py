"""Import of qualification records from insurers (docs/import-format.md).

All or nothing: every row is validated first; then the rows are applied in file order inside one
transaction, and any row the registry refuses (no open period to close, unknown insurer, ...) rolls
the whole file back. Re-importing a file that was applied changes nothing. History is never
overwritten: a `change` closes the open period and opens a new one, a `loss` closes the open period.
"""

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from homeconsent.audit.models import Action, ActorType, Basis, Outcome
from homeconsent.dates import add_years
from homeconsent.errors import ErrorCode

from .models import (
    CardClassification,
    ElderlyCertificate,
    Insurer,
    Person,
    PublicExpenseCertificate,
    Qualification,
)
from .validation import (
    FieldError,
    PublicExpenseRow,
    QualificationRow,
    validate_public_expense_row,
    validate_qualification_row,
)

COLUMNS = (
    "op",
    "insurer_number",
    "symbol",
    "number",
    "branch",
    "personal_family",
    "name",
    "name_kana",
    "sex",
    "birth_date",
    "acquired_on",
    "lost_on",
    "reason_of_loss",
    "contribution_ratio",
    "card_classification",
    "insured_name",
    "preschool",
    "address",
    "postal_code",
    "municipality_code",
    "previous_insurer_number",
    "previous_symbol",
    "previous_number",
    "previous_branch",
)
REQUIRED_COLUMNS = ("op", "insurer_number", "number", "branch", "birth_date")

FILE_UNREADABLE = ErrorCode(
    "import_file_unreadable",
    "ファイルを読めません（{reason}）。UTF-8 の CSV（見出し行つき）か JSON Lines にしてください。",
    "The file cannot be read ({reason}); use UTF-8 CSV with a header line, or JSON Lines.",
)
COLUMN_MISSING = ErrorCode(
    "import_column_missing",
    "見出し行に列「{column}」がありません。",
    "The header line has no column '{column}'.",
)
COLUMN_UNKNOWN = ErrorCode(
    "import_column_unknown",
    "列「{column}」は使えません（綴りを確かめてください）。",
    "Column '{column}' is not part of the format (check its spelling).",
)
JSON_LINE_INVALID = ErrorCode(
    "import_json_line_invalid",
    "この行は JSON のオブジェクトではありません（{reason}）。",
    "This line is not a JSON object ({reason}).",
)
INSURER_NOT_REGISTERED = ErrorCode(
    "insurer_not_registered",
    "保険者番号 {value} の保険者は登録されていません。",
    "No insurer with number {value} is registered.",
)
NO_OPEN_QUALIFICATION = ErrorCode(
    "no_open_qualification",
    "この記号・番号・枝番と生年月日に一致する有効な資格（喪失していないもの）がありません。",
    "No open qualification (not lost) matches these card keys and birth date.",
)
OPEN_QUALIFICATION_EXISTS = ErrorCode(
    "open_qualification_exists",
    "この記号・番号・枝番には {acquired_on} 取得の有効な資格があります。先に変更（change）か喪失（loss）にしてください。",
    "These card keys already have an open qualification acquired on {acquired_on}: send a change or a loss first.",
)
QUALIFICATION_DIFFERS = ErrorCode(
    "qualification_differs",
    "同じ取得日の資格が登録済みで、内容（{fields}）が違います。内容を変えるには change を使ってください。",
    "A qualification with the same acquisition date is registered with different values ({fields}); "
    "use a change to alter it.",
)
CHANGE_NOT_AFTER_START = ErrorCode(
    "change_not_after_start",
    "変更日（acquired_on）{value} は現在の資格の取得日 {acquired_on} より後にしてください。",
    "The date of the change (acquired_on) {value} must be after the open qualification's acquisition date {acquired_on}.",
)
LOSS_BEFORE_START = ErrorCode(
    "loss_before_start",
    "喪失日 {value} が資格取得日 {acquired_on} より前です。",
    "The date of loss {value} is before the qualification's acquisition date {acquired_on}.",
)
PERIOD_NOT_FOUND = ErrorCode(
    "qualification_not_found",
    "この記号・番号・枝番と生年月日に、取得日 {acquired_on} の資格はありません。訂正（correct）には登録済みの資格の取得日を書いてください。",
    "No qualification acquired on {acquired_on} matches these card keys and birth date; a correction names the "
    "acquisition date of a registered period.",
)
CORRECTION_OVERLAPS = ErrorCode(
    "correction_overlaps",
    "訂正後の喪失日 {lost_on} が、この人の次の資格の取得日 {next_on} より後です。",
    "The corrected date of loss {lost_on} is after the start of the person's next qualification ({next_on}).",
)
PERSON_DIFFERS = ErrorCode(
    "person_differs",
    "前の記号・番号（previous_*）の資格は別の人のものです（生年月日が違います）。",
    "The previous card keys (previous_*) belong to another person (the birth date differs).",
)

# Fields of a period an import sets; compared to decide "unchanged".
PERIOD_FIELDS = (
    "personal_family",
    "insured_name",
    "card_classification",
    "contribution_ratio",
    "preschool",
    "lost_on",
    "reason_of_loss",
)


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    changed: int = 0
    corrected: int = 0
    unchanged: int = 0
    errors: list[FieldError] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {
            "applied": self.applied,
            "rows": self.rows,
            "created": self.created,
            "changed": self.changed,
            "corrected": self.corrected,
            "unchanged": self.unchanged,
            "errors": [e.as_dict() for e in self.errors],
        }


class _Rollback(Exception):
    pass


# --- reading ---------------------------------------------------------------------------------------


def read_rows(path, text: str | None = None, *, columns=COLUMNS, required=REQUIRED_COLUMNS):
    """Yield (line number, dict) and FieldError items from a CSV or JSON Lines file."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            yield FieldError("file", FILE_UNREADABLE(reason=type(exc).__name__), 0)
            return
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield FieldError("line", JSON_LINE_INVALID(reason=exc.msg), line_no)
                continue
            if not isinstance(data, dict):
                yield FieldError("line", JSON_LINE_INVALID(reason=type(data).__name__), line_no)
                continue
            unknown = [k for k in data if k not in columns]
            for column in unknown:
                yield FieldError(column, COLUMN_UNKNOWN(column=column), line_no)
            yield line_no, {k: ("" if v is None else v) for k, v in data.items()}
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in columns]
    for column in missing:
        yield FieldError(column, COLUMN_MISSING(column=column), 1)
    for column in unknown:
        yield FieldError(column, COLUMN_UNKNOWN(column=column), 1)
    if missing or unknown:
        return
    for data in reader:
        # line_num is the line the record ended on: the line a person finds in an editor.
        yield reader.line_num, {k: v for k, v in data.items() if k is not None}


# --- applying ---------------------------------------------------------------------------------------


class _Applier:
    def __init__(self, report: ImportReport, *, actor_id: str, file_name: str):
        self.report, self.actor_id, self.file_name = report, actor_id, file_name
        self.insurers: dict[str, Insurer] = {}
        self.corrections: list[dict] = []  # access-log entries, written with the import's own

    def insurer(self, number: str, row: QualificationRow, field_name: str) -> Insurer | None:
        if number not in self.insurers:
            self.insurers[number] = Insurer.objects.filter(number=number).first()
        insurer = self.insurers[number]
        if insurer is None:
            self.fail(row, field_name, INSURER_NOT_REGISTERED(value=number))
        return insurer

    def fail(self, row: QualificationRow, field_name: str, error):
        self.report.errors.append(FieldError(field_name, error, row.line))

    def periods(self, keys: tuple, birth_date: date):
        insurer_number, symbol, number, branch = keys
        return list(
            Qualification.objects.filter(
                insurer__number=insurer_number,
                symbol=symbol,
                number=number,
                branch=branch,
                person__birth_date=birth_date,
            )
            .select_related("person")
            .order_by("acquired_on", "pk")
        )

    def wanted(self, row: QualificationRow) -> dict:
        return {
            "personal_family": row.personal_family,
            "insured_name": row.insured_name or (row.name if row.personal_family == "1" else ""),
            "card_classification": row.card_classification,
            "contribution_ratio": row.contribution_ratio,
            "preschool": row.preschool,
            "lost_on": row.lost_on,
            "reason_of_loss": row.reason_of_loss,
        }

    def differences(self, q: Qualification, row: QualificationRow) -> list[str]:
        """Fields where the period differs from the row. A row without a loss says nothing about a
        later closing (by a change or loss further on), so that is not a difference."""
        wanted = self.wanted(row)
        if row.lost_on is None:
            wanted.pop("lost_on")
            wanted.pop("reason_of_loss")
        return [f for f, v in wanted.items() if getattr(q, f) != v]

    @staticmethod
    def _person_details(row: QualificationRow) -> dict:
        return {
            "name": row.name,
            "name_kana": row.name_kana,
            "sex": row.sex,
            "address": row.address,
            "postal_code": row.postal_code,
            "address_municipality_code": row.municipality_code,
        }

    def update_person(self, person: Person, row: QualificationRow) -> dict:
        """Apply the row's person details; returns the old values of those that changed."""
        old = {}
        for name, value in self._person_details(row).items():
            if value and getattr(person, name) != value:
                old[name] = getattr(person, name)
                setattr(person, name, value)
        if old:
            person.save(update_fields=list(old))
        return old

    def replay_updates_person(self, period: Qualification, row: QualificationRow) -> dict:
        """A row whose period is registered already: its person details count only while that
        period is the person's newest, so re-importing an old file never undoes a later change
        (a new name after marriage, say)."""
        newer = Qualification.objects.filter(person_id=period.person_id, acquired_on__gt=period.acquired_on)
        return {} if newer.exists() else self.update_person(period.person, row)

    def open_period(self, row: QualificationRow, keys: tuple, field_name: str):
        open_ = [q for q in self.periods(keys, row.birth_date) if q.lost_on is None]
        if not open_:
            self.fail(row, field_name, NO_OPEN_QUALIFICATION())
            return None
        return open_[-1]

    def same_period(self, row: QualificationRow, periods) -> Qualification | None:
        return next((q for q in periods if q.acquired_on == row.acquired_on), None)

    def create_period(self, row: QualificationRow, person: Person, insurer: Insurer):
        period = Qualification.objects.create(
            person=person,
            insurer=insurer,
            symbol=row.symbol,
            number=row.number,
            branch=row.branch,
            acquired_on=row.acquired_on,
            card_valid_from=row.acquired_on,
            **self.wanted(row),
        )
        if period.card_classification == CardClassification.ELDERLY_70:
            # A 高齢受給者 period comes with its 高齢受給者証: at the period's ratio, to the day before
            # the 75th birthday (or the period's loss), so eligibility shows it for the dates it held.
            ends = add_years(person.birth_date, 75)
            if period.lost_on is not None:
                ends = min(ends, period.lost_on)
            if ends > period.acquired_on:
                ElderlyCertificate.objects.create(
                    qualification=period,
                    issued_on=period.acquired_on,
                    valid_from=period.acquired_on,
                    valid_until=ends - timedelta(days=1),
                    contribution_ratio=period.contribution_ratio,
                )

    def new(self, row: QualificationRow):
        insurer = self.insurer(row.insurer_number, row, "insurer_number")
        if insurer is None:
            return
        periods = self.periods(row.keys, row.birth_date)
        same = self.same_period(row, periods)
        if same is not None:
            differs = self.differences(same, row)
            if differs:
                self.fail(row, "acquired_on", QUALIFICATION_DIFFERS(fields=", ".join(differs)))
            elif self.replay_updates_person(same, row):
                self.report.changed += 1
            else:
                self.report.unchanged += 1
            return
        open_ = [q for q in periods if q.lost_on is None]
        if open_:
            self.fail(row, "op", OPEN_QUALIFICATION_EXISTS(acquired_on=open_[-1].acquired_on.isoformat()))
            return
        person = periods[-1].person if periods else None
        if person is None and row.previous_keys:
            previous = self.periods(row.previous_keys, row.birth_date)
            if not previous:
                self.fail(row, "previous_number", NO_OPEN_QUALIFICATION())
                return
            person = previous[-1].person
        if person is None:
            person = Person.objects.create(
                name=row.name,
                name_kana=row.name_kana,
                sex=row.sex,
                birth_date=row.birth_date,
                address=row.address,
                postal_code=row.postal_code,
                address_municipality_code=row.municipality_code,
            )
        else:
            self.update_person(person, row)
        self.create_period(row, person, insurer)
        self.report.created += 1

    def change(self, row: QualificationRow):
        insurer = self.insurer(row.insurer_number, row, "insurer_number")
        if insurer is None:
            return
        # Already applied? The period this change opens exists with these values.
        same = self.same_period(row, self.periods(row.keys, row.birth_date))
        if same is not None and not self.differences(same, row):
            if self.replay_updates_person(same, row):
                self.report.changed += 1
            else:
                self.report.unchanged += 1
            return
        keys = row.previous_keys or row.keys
        current = self.open_period(row, keys, "previous_number" if row.previous_keys else "number")
        if current is None:
            return
        if row.acquired_on <= current.acquired_on:
            self.fail(
                row,
                "acquired_on",
                CHANGE_NOT_AFTER_START(
                    value=row.acquired_on.isoformat(), acquired_on=current.acquired_on.isoformat()
                ),
            )
            return
        current.lost_on = row.acquired_on  # closed, not lost: reason_of_loss stays empty
        current.save(update_fields=["lost_on"])
        self.update_person(current.person, row)
        self.create_period(row, current.person, insurer)
        self.report.changed += 1

    def loss(self, row: QualificationRow):
        periods = self.periods(row.keys, row.birth_date)
        if any(q.lost_on == row.lost_on and q.reason_of_loss == row.reason_of_loss for q in periods):
            self.report.unchanged += 1
            return
        if self.insurer(row.insurer_number, row, "insurer_number") is None:
            return
        current = self.open_period(row, row.keys, "number")
        if current is None:
            return
        if row.lost_on < current.acquired_on:
            self.fail(
                row,
                "lost_on",
                LOSS_BEFORE_START(value=row.lost_on.isoformat(), acquired_on=current.acquired_on.isoformat()),
            )
            return
        current.lost_on, current.reason_of_loss = row.lost_on, row.reason_of_loss
        current.save(update_fields=["lost_on", "reason_of_loss"])
        self.report.changed += 1

    def correct(self, row: QualificationRow):
        """Replace the fields of the period with these keys and acquired_on (wrong from its first
        day); the old values go to the access log. A row without lost_on leaves the closing as it is."""
        if self.insurer(row.insurer_number, row, "insurer_number") is None:
            return
        period = self.same_period(row, self.periods(row.keys, row.birth_date))
        if period is None:
            self.fail(row, "acquired_on", PERIOD_NOT_FOUND(acquired_on=row.acquired_on.isoformat()))
            return
        if row.lost_on is not None and row.lost_on != period.lost_on:
            following = (
                Qualification.objects.filter(person_id=period.person_id, acquired_on__gt=period.acquired_on)
                .order_by("acquired_on")
                .first()
            )
            if following is not None and row.lost_on > following.acquired_on:
                self.fail(
                    row,
                    "lost_on",
                    CORRECTION_OVERLAPS(
                        lost_on=row.lost_on.isoformat(), next_on=following.acquired_on.isoformat()
                    ),
                )
                return
        wanted = self.wanted(row)
        fields = self.differences(period, row)
        old = {name: getattr(period, name) for name in fields}
        for name in fields:
            setattr(period, name, wanted[name])
        if fields:
            period.save(update_fields=fields)
        person_old = self.replay_updates_person(period, row)
        if not (fields or person_old):
            self.report.unchanged += 1
            return
        self.report.corrected += 1
        plain = lambda value: value.isoformat() if isinstance(value, date) else value  # noqa: E731
        self.corrections.append(
            {
                "actor_type": ActorType.OPERATOR,
                "actor_id": self.actor_id,
                "person": period.person_id,
                "items": ["qualification"] + (["person"] if person_old else []),
                "basis": Basis.OPERATOR,
                "outcome": Outcome.OK,
                "detail": {
                    "action": Action.IMPORT_CORRECTION,
                    "file": self.file_name,
                    "line": row.line,
                    "qualification_id": period.pk,
                    "acquired_on": period.acquired_on.isoformat(),
                    "old": {name: plain(value) for name, value in old.items()},
                    "new": {name: plain(wanted[name]) for name in fields},
                    "person_old": person_old,
                },
            }
        )


def import_qualifications(
    path,
    *,
    text: str | None = None,
    today: date | None = None,
    actor_id: str = "import",
    dry_run: bool = False,
) -> ImportReport:
    """Validate and apply one file. Nothing is applied unless every row is good (report.errors)."""
    from homeconsent.audit.services import record_accesses

    today = today or timezone.localdate()
    report = ImportReport()
    rows: list[QualificationRow] = []
    for item in read_rows(path, text):
        if isinstance(item, FieldError):
            report.errors.append(item)
            continue
        line, data = item
        report.rows += 1
        row, errors = validate_qualification_row(data, line, today=today)
        report.errors.extend(errors)
        if row is not None:
            rows.append(row)
    if report.errors:
        return report
    applier = _Applier(report, actor_id=actor_id, file_name=Path(path).name)
    try:
        with transaction.atomic():
            # Imports naming the same insurers run one after the other (row locks on PostgreSQL;
            # SQLite's IMMEDIATE transactions already serialize), so two runs of one file cannot
            # both see "not there yet" and both create the periods.
            numbers = {row.insurer_number for row in rows} | {row.previous_insurer_number for row in rows}
            for insurer in Insurer.objects.select_for_update().filter(number__in=numbers).order_by("number"):
                applier.insurers[insurer.number] = insurer
            for row in rows:
                getattr(applier, row.op)(row)
            if report.errors or dry_run:
                raise _Rollback
            # The registry changed: one operator entry (no person: the log is not per row here),
            # and one per corrected period naming its person, with the values it replaced.
            record_accesses(
                applier.corrections
                + [
                    dict(
                        actor_type=ActorType.OPERATOR,
                        actor_id=actor_id,
                        person=None,
                        items=["qualification"],
                        basis=Basis.OPERATOR,
                        outcome=Outcome.OK,
                        detail={
                            "action": Action.IMPORT_QUALIFICATIONS,
                            "file": Path(path).name,
                            "created": report.created,
                            "changed": report.changed,
                            "corrected": report.corrected,
                            "unchanged": report.unchanged,
                        },
                    )
                ]
            )
    except _Rollback:
        if report.errors:  # nothing was applied: counts of a rolled-back run would mislead
            report.created = report.changed = report.corrected = report.unchanged = 0
        return report
    report.applied = True
    return report


# --- public-expense certificates (公費) ----------------------------------------------------------

PUBLIC_EXPENSE_COLUMNS = (
    "insurer_number",
    "symbol",
    "number",
    "branch",
    "birth_date",
    "programme",
    "payer_number",
    "recipient_number",
    "valid_from",
    "valid_until",
    "monthly_self_pay_limit",
    "designated_institutions",
)
PUBLIC_EXPENSE_REQUIRED_COLUMNS = (
    "insurer_number",
    "number",
    "branch",
    "birth_date",
    "programme",
    "payer_number",
    "valid_from",
)
PERSON_NOT_FOUND = ErrorCode(
    "person_not_found",
    "この保険者番号・記号・番号・枝番と生年月日に一致する人が登録されていません。先に資格情報を取り込んでください。",
    "No person with these card keys and birth date is registered: import their qualification first.",
)
# A certificate is the same one when person, 公費負担者番号, 受給者番号 and start agree.
PUBLIC_EXPENSE_FIELDS = ("programme", "valid_until", "monthly_self_pay_limit", "designated_institutions")


def _person_for(row: PublicExpenseRow) -> int | None:
    ids = set(
        Qualification.objects.filter(
            insurer__number=row.insurer_number,
            symbol=row.symbol,
            number=row.number,
            branch=row.branch,
            person__birth_date=row.birth_date,
        ).values_list("person_id", flat=True)
    )
    return ids.pop() if len(ids) == 1 else None


def import_public_expense(
    path,
    *,
    text: str | None = None,
    today: date | None = None,
    actor_id: str = "import",
    dry_run: bool = False,
) -> ImportReport:
    """Validate and apply one file of 公費 certificates; all or nothing (as import_qualifications).
    A row equal to a registered certificate is `unchanged`; one naming a registered certificate
    (person, 公費負担者番号, 受給者番号, start) with other values updates it (`changed`)."""
    from homeconsent.audit.services import record_accesses

    today = today or timezone.localdate()
    report = ImportReport()
    rows: list[PublicExpenseRow] = []
    for item in read_rows(
        path, text, columns=PUBLIC_EXPENSE_COLUMNS, required=PUBLIC_EXPENSE_REQUIRED_COLUMNS
    ):
        if isinstance(item, FieldError):
            report.errors.append(item)
            continue
        line, data = item
        report.rows += 1
        row, errors = validate_public_expense_row(data, line, today=today)
        report.errors.extend(errors)
        if row is not None:
            rows.append(row)
    if report.errors:
        return report
    try:
        with transaction.atomic():
            for row in rows:
                person_id = _person_for(row)
                if person_id is None:
                    report.errors.append(FieldError("number", PERSON_NOT_FOUND(), row.line))
                    continue
                values = {f: getattr(row, f) for f in PUBLIC_EXPENSE_FIELDS}
                cert, created = PublicExpenseCertificate.objects.select_for_update().get_or_create(
                    person_id=person_id,
                    payer_number=row.payer_number,
                    recipient_number=row.recipient_number,
                    valid_from=row.valid_from,
                    defaults=values,
                )
                if created:
                    report.created += 1
                elif all(getattr(cert, f) == v for f, v in values.items()):
                    report.unchanged += 1
                else:
                    for f, v in values.items():
                        setattr(cert, f, v)
                    cert.save(update_fields=list(values))
                    report.changed += 1
            if report.errors or dry_run:
                raise _Rollback
            record_accesses(
                [
                    dict(
                        actor_type=ActorType.OPERATOR,
                        actor_id=actor_id,
                        person=None,
                        items=["qualification"],
                        basis=Basis.OPERATOR,
                        outcome=Outcome.OK,
                        detail={
                            "action": Action.IMPORT_PUBLIC_EXPENSE,
                            "file": Path(path).name,
                            "created": report.created,
                            "changed": report.changed,
                            "unchanged": report.unchanged,
                        },
                    )
                ]
            )
    except _Rollback:
        if report.errors:
            report.created = report.changed = report.unchanged = 0
        return report
    report.applied = True
    return report
