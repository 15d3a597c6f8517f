"""What the signed-in patient sees of their own records, and the card-proved actions they take.

Every read here writes an access-log entry for the person: actor_type "patient", basis "self",
actor_id the card certificate that signed them in ("card:<serial>"), the items shown. So the
patient's own looks appear in "who looked at my data" beside the institutions' reads.
"""

import datetime
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from homeconsent.audit.models import AccessEvent, ActorType, Basis
from homeconsent.audit.services import chain_for, events_for_person, record_access
from homeconsent.audit.verification import TailCheck, verify_chain_tail
from homeconsent.consent import services as consent_services
from homeconsent.consent.models import Consent, ConsentEndedBy
from homeconsent.dates import add_years
from homeconsent.errors import ErrorCode
from homeconsent.registry.labels import checkup_name
from homeconsent.registry.models import (
    CheckupResult,
    ExpenseNotice,
    Institution,
    MedicationRecord,
    MedicationSource,
    Person,
    PublicExpenseCertificate,
    Qualification,
    TreatmentRecord,
)
from homeconsent.registry.reference_data import CHECKUP_ITEMS
from homeconsent.registry.retention import CHECKUP_YEARS, MEDICATION_YEARS

from .charts import Chart, Series
from .checkup_ranges import reference_for

NOT_YOUR_CARD = ErrorCode(
    "portal_not_your_card",
    "サインインしている方とは別のマイナンバーカードが使われました。ご本人のカードで確認してください。",
    "A different person's My Number Card was used. Please confirm with your own card.",
)
# Shown (with its code) when the access log's check fails: plain words and what to do.
LOG_NOT_VERIFIED = ErrorCode(
    "portal_access_log_not_verified",
    "この記録が書き換えられていないことを確認できませんでした。表示されている記録が正しくない可能性があります。"
    "お手数ですが、サービスの問い合わせ窓口にご連絡のうえ、この画面のエラーコードをお伝えください。",
    "We could not confirm that this record is unchanged, so what you see may not be correct. "
    "Please contact the service's help desk and tell them the error code shown on this page.",
)
CONSENT_NOT_FOUND = ErrorCode(
    "portal_consent_not_found",
    "その同意は見つかりませんでした。",
    "That consent could not be found.",
)

# The access-history page lists at most this many rows (the CSV has at most EXPORT_LIMIT).
HISTORY_PAGE_LIMIT = 300
EXPORT_LIMIT = 10000
# The "log verified" check re-hashes at most this many of the newest rows of the person's chain.
VERIFY_BOUND = 20000

# Checkup trend charts: (chart key, [(series item key, label)]) in the order shown.
TREND_CHARTS = [
    ("bmi", ["bmi"]),
    ("blood_pressure", ["sbp", "dbp"]),
    ("hba1c", ["hba1c"]),
    ("fbg", ["fbg"]),
    ("ldl", ["ldl"]),
    ("hdl", ["hdl"]),
    ("tg", ["tg"]),
    ("waist", ["waist"]),
]
CHECKUP_BY_KEY = {item.key: item for item in CHECKUP_ITEMS}
CHECKUP_BY_CODE = {item.code: item for item in CHECKUP_ITEMS}


def _today():
    return timezone.localdate()


def record_self_read(viewer, items, page: str, **detail):
    return record_access(
        actor_type=ActorType.PATIENT,
        actor_id=viewer.actor_id,
        person=viewer.person_id,
        items=items,
        basis=Basis.SELF,
        detail={"page": page, **detail},
    )


# --- qualifications ---------------------------------------------------------------------------
@dataclass
class QualificationView:
    qualification: Qualification
    current: bool
    elderly: list
    limits: list
    diseases: list


@dataclass
class PublicExpenseView:
    """A 公費 certificate as the patient sees it: whether it is in force today ("current", "past" or
    "upcoming") and its designated institutions as (code, name; "" when not in the registry)."""

    certificate: PublicExpenseCertificate
    state: str
    designated: list


@dataclass
class MyInsurance:
    qualifications: list[QualificationView]
    public_expense: list[PublicExpenseView]


def _public_expense_views(person_id, today) -> list[PublicExpenseView]:
    certificates = list(
        PublicExpenseCertificate.objects.filter(person_id=person_id).order_by("-valid_from", "-pk")
    )
    codes = {code for c in certificates for code in c.designated_institutions.split()}
    names = dict(Institution.objects.filter(code__in=codes).values_list("code", "name")) if codes else {}

    def state(c):
        if c.valid_from > today:
            return "upcoming"
        return "past" if c.valid_until is not None and c.valid_until < today else "current"

    return [
        PublicExpenseView(
            c, state(c), [(code, names.get(code, "")) for code in c.designated_institutions.split()]
        )
        for c in certificates
    ]


def my_qualifications(viewer) -> MyInsurance:
    today = _today()
    rows = (
        Qualification.objects.filter(person_id=viewer.person_id)
        .select_related("insurer")
        .prefetch_related("elderly_certificates", "limit_certificates", "specific_disease_certificates")
        .order_by("-acquired_on", "-pk")
    )
    views = [
        QualificationView(
            q,
            q.is_valid_on(today),
            sorted(q.elderly_certificates.all(), key=lambda c: c.valid_from, reverse=True),
            sorted(q.limit_certificates.all(), key=lambda c: c.valid_from, reverse=True),
            sorted(q.specific_disease_certificates.all(), key=lambda c: c.valid_from, reverse=True),
        )
        for q in rows
    ]
    # 公費 travels with the qualification: the same page, the same logged items.
    public_expense = _public_expense_views(viewer.person_id, today)
    # The patient sees their own 限度額 information: no consent is needed to look at oneself.
    record_self_read(viewer, ["qualification", "limit_certificate"], "qualifications")
    return MyInsurance(views, public_expense)


# --- medication -------------------------------------------------------------------------------
@dataclass
class Month:
    month: datetime.date
    rows: list = field(default_factory=list)


def _by_month(rows, day_of) -> list[Month]:
    months: OrderedDict = OrderedDict()
    for row in rows:
        day = day_of(row)
        key = day.replace(day=1)
        months.setdefault(key, Month(key)).rows.append(row)
    return list(months.values())


@dataclass
class CurrentMedicine:
    """A medicine the patient is taking now, from its latest dispensing: what, how much, since when
    (its first dispensing on record), from where (prescribed at, dispensed at)."""

    latest: MedicationRecord
    since: datetime.date
    times: int  # dispensings on record

    @property
    def supplied_until(self) -> datetime.date:
        return self.latest.dispensed_on + datetime.timedelta(days=max(self.latest.days, 1) - 1)


# A medicine is "current" while its latest supply lasts, and this many days after (refills come late).
CURRENT_GRACE_DAYS = 14


def current_medicines(rows, today) -> list[CurrentMedicine]:
    """Of these records (any order), the medicines whose latest supply lasts into the grace period, by name."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(row.drug_code or row.drug_name, []).append(row)
    current = []
    for records in groups.values():
        records.sort(key=lambda r: (r.dispensed_on, r.pk))
        medicine = CurrentMedicine(records[-1], records[0].dispensed_on, len(records))
        if medicine.supplied_until >= today - datetime.timedelta(days=CURRENT_GRACE_DAYS):
            current.append(medicine)
    return sorted(current, key=lambda m: m.latest.drug_name)


@dataclass
class MedicationPage:
    months: list  # [Month], newest first, after the search
    current: list  # [CurrentMedicine], whatever the search


def my_medication(viewer, query: str = "", source: str = "") -> MedicationPage:
    """The medication page's one read (one access-log row): the current medicines and the history."""
    since = add_years(_today(), -MEDICATION_YEARS)
    rows = MedicationRecord.objects.filter(person_id=viewer.person_id, dispensed_on__gte=since)
    everything = rows.select_related("dispensing_institution", "prescribing_institution")
    current = current_medicines(list(everything), _today())
    query = (query or "").strip()[:100]
    if query:
        rows = rows.filter(
            Q(drug_name__icontains=query)
            | Q(ingredient_name__icontains=query)
            | Q(dispensing_institution_name__icontains=query)
            | Q(prescribing_institution_name__icontains=query)
            | Q(dispensing_institution__name__icontains=query)
            | Q(prescribing_institution__name__icontains=query)
        )
    if source in MedicationSource.values:
        rows = rows.filter(source=source)
    rows = rows.select_related("dispensing_institution", "prescribing_institution").order_by(
        "-dispensed_on", "drug_name", "pk"
    )
    months = _by_month(rows, lambda r: r.dispensed_on)
    detail = {"query": query} if query else {}
    if source:
        detail["source"] = source
    record_self_read(viewer, ["medication"], "medication", **detail)
    return MedicationPage(months, current)


# --- checkups ---------------------------------------------------------------------------------
@dataclass
class Checkup:
    checked_on: datetime.date
    institution_name: str
    results: list  # CheckupResult rows in the master's order


def _decimal(value: str):
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return None
    return number if number.is_finite() else None


def my_checkups(viewer):
    """(checkups newest first, trend charts of the main items)."""
    since = add_years(_today(), -CHECKUP_YEARS)
    rows = list(
        CheckupResult.objects.filter(person_id=viewer.person_id, checked_on__gte=since).order_by(
            "-checked_on", "pk"
        )
    )
    order = {item.code: index for index, item in enumerate(CHECKUP_ITEMS)}
    checkups: OrderedDict = OrderedDict()
    for row in rows:
        checkups.setdefault(row.checked_on, Checkup(row.checked_on, row.institution_name, [])).results.append(
            row
        )
    for checkup in checkups.values():
        checkup.results.sort(key=lambda r: (order.get(r.item_code, len(order)), r.item_name))

    values = {}  # item key -> [(date, Decimal)]
    for row in sorted(rows, key=lambda r: r.checked_on):
        item = CHECKUP_BY_CODE.get(row.item_code)
        number = _decimal(row.value)
        if item is not None and number is not None:
            values.setdefault(item.key, []).append((row.checked_on, number))
    charts = []
    sex = Person.objects.filter(pk=viewer.person_id).values_list("sex", flat=True).first() or ""
    for key, series_keys in TREND_CHARTS:
        series = [
            Series(checkup_name(CHECKUP_BY_KEY[k]), values[k], reference_for(k, sex))
            for k in series_keys
            if values.get(k)
        ]
        if series:
            unit = CHECKUP_BY_KEY[series_keys[0]].unit
            charts.append(
                Chart(
                    key,
                    checkup_name(CHECKUP_BY_KEY[series_keys[0]]) if len(series_keys) == 1 else "",
                    unit,
                    series,
                )
            )
    record_self_read(viewer, ["checkup"], "checkups")
    return list(checkups.values()), charts


# --- treatment and expenses -------------------------------------------------------------------
def my_treatment(viewer) -> list[Month]:
    rows = (
        TreatmentRecord.objects.filter(person_id=viewer.person_id)
        .select_related("institution")
        .order_by("-treated_on", "pk")
    )
    months = _by_month(rows, lambda r: r.treated_on)
    record_self_read(viewer, ["treatment"], "treatment")
    return months


def expense_years(viewer) -> list[int]:
    months = ExpenseNotice.objects.filter(person_id=viewer.person_id).dates("month", "year", order="DESC")
    return [day.year for day in months]


def my_expenses(viewer, year: int | None, *, export=False) -> list[ExpenseNotice]:
    rows = ExpenseNotice.objects.filter(person_id=viewer.person_id).select_related("institution")
    if year:
        rows = rows.filter(month__year=year)
    rows = list(rows.order_by("month", "institution_name", "pk"))
    record_self_read(viewer, ["expense_notice"], "expenses_csv" if export else "expenses", year=year or 0)
    return rows


# --- consents ---------------------------------------------------------------------------------
def my_consents(viewer):
    """(in force, ended): the person's consents with their institutions."""
    now = timezone.now()
    rows = list(
        Consent.objects.filter(person_id=viewer.person_id)
        .select_related("institution")
        .order_by("-given_at", "-pk")
    )
    in_force = [c for c in rows if c.is_in_force(now)]
    # Replaced consents are history too: the patient sees what the newer one took over from.
    ended = [c for c in rows if not c.is_in_force(now)]
    record_self_read(viewer, ["consent"], "consents")
    return in_force, ended


def consent_of(viewer, consent_id) -> Consent:
    consent = (
        Consent.objects.filter(pk=consent_id, person_id=viewer.person_id)
        .select_related("institution")
        .first()
    )
    if consent is None:
        raise CONSENT_NOT_FOUND()
    return consent


def cancel_with_card(viewer, verified, target):
    """Cancel one consent (target: its id) or all ("all"), proved again by the viewer's own card.

    The proof (homeconsent.consent.proof, purpose portal_cancel) binds the target in its challenge's
    details, so the signature or ID token covers exactly what is cancelled. Returns the cancelled consents.
    """
    if verified.person.pk != viewer.person_id:
        raise NOT_YOUR_CARD()
    actor_id = verified.actor_id
    if target == "all":
        return consent_services.do_cancel_all(verified.person, by=ConsentEndedBy.PATIENT, actor_id=actor_id)
    consent = consent_of(viewer, target)
    return [consent_services.do_cancel_consent(consent, by=ConsentEndedBy.PATIENT, actor_id=actor_id)]


# --- access history ---------------------------------------------------------------------------
@dataclass
class HistoryFilter:
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    institution: str = ""
    basis: str = ""
    # The patient's own page views outnumber everyone else's; they are shown only when asked for.
    own_views: bool = False

    @property
    def active(self) -> bool:
        return bool(self.date_from or self.date_to or self.institution or self.basis)


@dataclass
class HistoryRow:
    event: AccessEvent
    institution_name: str
    local_time: datetime.datetime


def _start_of_day(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def my_access_history(viewer, filters: HistoryFilter, *, export=False) -> tuple[list[HistoryRow], int, int]:
    """(rows newest first, total matching, own views left out); rows are capped at the page's or
    the export's limit. Own views (basis "self") are left out unless asked for or filtered on."""
    events = events_for_person(viewer.person_id)
    if filters.date_from:
        events = events.filter(occurred_at__gte=_start_of_day(filters.date_from))
    if filters.date_to:
        events = events.filter(occurred_at__lt=_start_of_day(filters.date_to + datetime.timedelta(days=1)))
    if filters.institution:
        events = events.filter(institution_code=filters.institution)
    if filters.basis in Basis.values:
        events = events.filter(basis=filters.basis)
    hidden_own = 0
    if not filters.own_views and filters.basis != Basis.SELF:
        hidden_own = events.filter(basis=Basis.SELF).count()
        events = events.exclude(basis=Basis.SELF)
    total = events.count()
    limit = EXPORT_LIMIT if export else HISTORY_PAGE_LIMIT
    events = list(events[:limit])
    codes = {e.institution_code for e in events if e.institution_code}
    names = dict(Institution.objects.filter(code__in=codes).values_list("code", "name"))
    rows = [
        HistoryRow(e, names.get(e.institution_code, ""), timezone.localtime(e.occurred_at)) for e in events
    ]
    # Written after the query, so this look is not among the rows it shows.
    record_self_read(viewer, ["access_log"], "access_csv" if export else "access")
    return rows, total, hidden_own


def institutions_in_history(viewer) -> list[tuple[str, str]]:
    codes = sorted(
        set(
            events_for_person(viewer.person_id)
            .exclude(institution_code="")
            .values_list("institution_code", flat=True)
        )
    )
    names = dict(Institution.objects.filter(code__in=codes).values_list("code", "name"))
    return [(code, names.get(code, "")) for code in codes]


# What the access page shows of the check of the chain that holds a person's records.
ChainCheck = TailCheck


def verify_my_chain(viewer, *, bound: int = VERIFY_BOUND) -> ChainCheck:
    """The audit's check of the newest `bound` rows of the chain holding the person's records."""
    return verify_chain_tail(chain_for(viewer.person_id), bound=bound)


def session_idle_minutes() -> int:
    return int(settings.PORTAL_SESSION_IDLE.total_seconds() // 60)
