"""Reading the monthly counts for a month range: the tables, the CSV and the charts' series.

Every figure comes from MonthlyUsage (a few rows per month and institution kind), never from the
access log, so a report costs the same with 1 thousand or 100 million log rows.
"""

import datetime
import re
from dataclasses import dataclass

from django.db.models import Sum
from django.utils.translation import gettext as _

from homeconsent.errors import ErrorCode
from homeconsent.registry.models import FacilityType
from homeconsent.registry.reference_data import PREFECTURE_NAMES

from .models import Method, Metric, MonthlyUsage

MONTH_INVALID = ErrorCode(
    "usage_month_invalid",
    "月は「2026-04」のように年-月で入力してください（入力：{value}）。",
    "Enter a month as year-month, for example 2026-04 (you entered: {value}).",
)
RANGE_REVERSED = ErrorCode(
    "usage_range_reversed",
    "期間の開始（{start}）が終了（{end}）より後です。開始と終了を入れ替えてください。",
    "The start of the range ({start}) is after its end ({end}). Swap the two months.",
)
RANGE_TOO_LONG = ErrorCode(
    "usage_range_too_long",
    "期間は{limit}か月以内で指定してください。",
    "Choose a range of at most {limit} months.",
)
MAX_MONTHS = 120
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(value: str) -> datetime.date:
    match = MONTH_RE.match(value.strip())
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1900:
        raise MONTH_INVALID(value=value[:20])
    return datetime.date(int(match[1]), int(match[2]), 1)


def months_between(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    if start > end:
        raise RANGE_REVERSED(start=f"{start:%Y-%m}", end=f"{end:%Y-%m}")
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    if count > MAX_MONTHS:
        raise RANGE_TOO_LONG(limit=MAX_MONTHS)
    return [datetime.date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1) for i in range(count)]  # fmt: skip


def default_range(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The last twelve months up to this one."""
    end = today.replace(day=1)
    return datetime.date(end.year - (1 if end.month < 12 else 0), end.month % 12 + 1, 1), end


@dataclass
class Table:
    key: str
    title: str
    columns: list  # [(key, label)]
    rows: list  # [(month, [count per column], total)]

    @property
    def totals(self):
        return [sum(row[1][i] for row in self.rows) for i in range(len(self.columns))]


def _grouped(months, metric_filter, field) -> dict:
    found = {}
    rows = (
        MonthlyUsage.objects.filter(month__gte=months[0], month__lte=months[-1], **metric_filter)
        .values("month", field)
        .annotate(n=Sum("count"))
    )
    for row in rows:
        found[(row["month"], row[field])] = row["n"]
    return found


def _table(key, title, months, columns, found) -> Table:
    rows = []
    for month in months:
        counts = [found.get((month, column), 0) for column, _label in columns]
        rows.append((month, counts, sum(counts)))
    return Table(key, title, columns, rows)


def usage_tables(months: list[datetime.date]) -> list[Table]:
    reads = {"metric": Metric.READ}
    by_method = _grouped(months, reads, "method")
    by_type = _grouped(months, reads, "facility_type")
    by_pref = _grouped(months, reads, "prefecture")
    consents = _grouped(
        months, {"metric__in": [Metric.CONSENT_REGISTERED, Metric.CONSENT_CANCELLED]}, "metric"
    )
    # Prefectures: only those with any read in the range (47 empty columns help nobody).
    prefectures = sorted({p for (_m, p) in by_pref})
    return [
        _table("method", _("Reads by method"), months, [(m.value, str(m.label)) for m in Method], by_method),
        _table(
            "facility_type",
            _("Reads by facility type"),
            months,
            [(t.value, str(t.label)) for t in FacilityType],
            by_type,
        ),
        _table(
            "prefecture",
            _("Reads by prefecture"),
            months,
            [(p, PREFECTURE_NAMES.get(p, p or "-")) for p in prefectures],
            by_pref,
        ),
        _table(
            "consents",
            _("Consents registered and cancelled"),
            months,
            [
                (Metric.CONSENT_REGISTERED.value, str(Metric.CONSENT_REGISTERED.label)),
                (Metric.CONSENT_CANCELLED.value, str(Metric.CONSENT_CANCELLED.label)),
            ],  # fmt: skip
            consents,
        ),
    ]


def csv_rows(tables: list[Table]):
    """One line per table, month and column: (table, month, key, label, count); long form so any range fits."""
    for table in tables:
        for month, counts, _total in table.rows:
            for (key, label), n in zip(table.columns, counts):
                yield table.key, f"{month:%Y-%m}", key, label, n
