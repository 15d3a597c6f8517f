"""Eligibility resolution (資格確認): search keys or a person → the national meanings.

QualificationValidity: 1 valid, 2 invalid (lost), 3 invalid with a newer qualification, 4 no such
qualification, 5 several match. The result is a plain dataclass whose `as_dict()` uses the element
names of the national interface (reference/domain.md), dates as yyyyMMdd; the certificate element
names follow the same interface as far as public code shows them (inferred).

Answers are for the lookup date `on` (default today), as the registry knows things now:
- 3 needs a newer qualification that had begun on or before `on`. A period starting after `on`
  did not exist on that day, so the old keys answer 2 for it (3 from its first day on).
- DisqualificationDate is the period's registered 資格喪失年月日, the real date, also when it is
  later than `on` but already past (or today): an institution checking a past visit must learn the
  patient lost that insurance afterwards (claims after it go elsewhere). A closing date still in the
  future, after both today and `on`, is left out (''): it is a plan the insurer may still withdraw,
  and a change registered ahead (a new ratio from next month closes the period the day before)
  would otherwise read as a loss of a qualification that is valid on the date asked for.

Cost: one indexed query finds the candidate periods (insurer number → insurer, then the
(insurer, 記号, 番号, 枝番) index); one more reads the four certificate tables (公費 by the period's person) (a UNION ALL), or
checks for a newer qualification. By person, periods and certificates come in one UNION ALL. Never
more than two queries per lookup. 記号 and 番号 are compared in one
spelling (validation.normalize_card_key): 12 finds １２ and the other way round.
"""

import json
from dataclasses import dataclass, field, replace
from datetime import date
from enum import IntEnum

from django.db import connections, router
from django.utils import timezone

from homeconsent.sqlrows import Columns, per_connection, prepared_cursor, table

from .models import (
    CardCertificate,
    ElderlyCertificate,
    Insurer,
    LimitCertificate,
    Person,
    PublicExpenseCertificate,
    Qualification,
    SpecificDiseaseCertificate,
)
from .validation import SearchKeys, clean_date, clean_search_keys, normalize_card_key


class Validity(IntEnum):
    VALID = 1
    LOST = 2
    LOST_WITH_NEWER = 3
    NONE = 4
    SEVERAL = 5


def _ymd(day: date | None) -> str:
    return day.strftime("%Y%m%d") if day else ""


@dataclass
class EligibilityResult:
    validity: Validity
    on: date
    reason_of_loss: str = ""
    matches: int = 0
    qualification: dict | None = None
    elderly_certificate: dict | None = None
    specific_disease_certificates: list = field(default_factory=list)
    limit_certificate: dict | None = None
    limit_included: bool = False
    public_expense_certificates: list = field(default_factory=list)
    # For the caller (audit, API); not part of the serialized result.
    person: Person | None = field(default=None, repr=False, compare=False)
    qualification_row: Qualification | None = field(default=None, repr=False, compare=False)
    public_expense_rows: list = field(default_factory=list, repr=False, compare=False)

    @property
    def person_id(self) -> int | None:
        return self.person.pk if self.person else None

    def as_dict(self) -> dict:
        out = {
            "validity": int(self.validity),
            "QualificationValidity": str(int(self.validity)),
            "ReasonOfLoss": self.reason_of_loss,
            "ReferenceDate": _ymd(self.on),
            "Matches": self.matches,
            "Qualification": self.qualification,
            "ElderlyRecipientCertificateInfo": self.elderly_certificate,
            "SpecificDiseasesCertificateList": self.specific_disease_certificates,
            "PublicExpenseCertificateList": self.public_expense_certificates,
        }
        if self.limit_included:
            out["LimitApplicationCertificateRelatedInfo"] = self.limit_certificate
        return out


def qualification_fields(q: Qualification, *, on: date | None = None, today: date | None = None) -> dict:
    """A qualification period in the national element names. Given the lookup date `on`, a closing
    date after both `on` and today is left out (module docstring)."""
    person, insurer = q.person, q.insurer
    lost_on = q.lost_on
    if lost_on is not None and on is not None and lost_on > max(on, today or timezone.localdate()):
        lost_on = None
    return {
        "InsurerNumber": insurer.number,
        "InsurerName": insurer.name,
        "InsuredCardSymbol": q.symbol,
        "InsuredIdentificationNumber": q.number,
        "InsuredBranchNumber": q.branch,
        "InsuredCardClassification": q.card_classification,
        "PersonalFamilyClassification": q.personal_family,
        "InsuredName": q.insured_name,
        "Name": person.name,
        "NameKana": person.name_kana,
        "Sex1": person.sex,
        "Birthdate": _ymd(person.birth_date),
        "Address": person.address,
        "PostNumber": person.postal_code,
        "QualificationDate": _ymd(q.acquired_on),
        "DisqualificationDate": _ymd(lost_on),
        "InsuredCardValidDate": _ymd(q.card_valid_from),
        "InsuredCardExpirationDate": _ymd(q.card_expires_on),
        "InsuredPartialContributionRatio": q.contribution_ratio,
        "PreschoolClassification": "1" if q.preschool else "",
    }


def _elderly(cert: ElderlyCertificate) -> dict:
    return {
        "ElderlyRecipientCertificateDate": _ymd(cert.issued_on),
        "ElderlyRecipientValidStartDate": _ymd(cert.valid_from),
        "ElderlyRecipientValidEndDate": _ymd(cert.valid_until),
        "ElderlyRecipientContributionRatio": cert.contribution_ratio,
    }


def _limit(cert: LimitCertificate) -> dict:
    return {
        "LimitApplicationCertificateClassificationFlag": cert.classification,
        "LimitApplicationCertificateClassification": cert.get_classification_display(),
        "LimitApplicationCertificateValidStartDate": _ymd(cert.valid_from),
        "LimitApplicationCertificateValidEndDate": _ymd(cert.valid_until),
    }


def _disease(cert: SpecificDiseaseCertificate) -> dict:
    return {
        "SpecificDiseasesDiseaseCategory": cert.disease_category,
        "SpecificDiseasesDiseaseCategoryName": cert.get_disease_category_display(),
        "SpecificDiseasesValidStartDate": _ymd(cert.valid_from),
        "SpecificDiseasesValidEndDate": _ymd(cert.valid_until),
        "SpecificDiseasesSelfPay": cert.self_pay_limit,
    }


def _public_expense(cert: PublicExpenseCertificate) -> dict:
    return {
        "PublicExpenseLawNumber": cert.programme,
        "PublicExpenseLawName": cert.get_programme_display(),
        "PublicExpensePayerNumber": cert.payer_number,
        "PublicExpenseRecipientNumber": cert.recipient_number,
        "PublicExpenseValidStartDate": _ymd(cert.valid_from),
        "PublicExpenseValidEndDate": _ymd(cert.valid_until),
        "PublicExpenseMonthlySelfPayLimit": cert.monthly_self_pay_limit,
        "PublicExpenseDesignatedInstitutions": cert.designated_institutions.split(),
    }


def _choose(candidates: list[Qualification], on: date) -> tuple[Validity, Qualification | None]:
    """Which period answers for `on`, and its validity (LOST here may still become LOST_WITH_NEWER)."""
    valid = [q for q in candidates if q.is_valid_on(on)]
    if len(valid) > 1:
        return Validity.SEVERAL, None
    if len(valid) == 1:
        return Validity.VALID, valid[0]
    started = [q for q in candidates if q.acquired_on <= on]
    if not started:
        return Validity.NONE, None  # nothing matches, or nothing had begun on that day
    if len({q.person_id for q in started}) > 1:
        return Validity.SEVERAL, None
    return Validity.LOST, max(started, key=lambda q: (q.acquired_on, q.pk))


@dataclass
class _Preloaded:
    """Certificates and newest acquisitions fetched for many chosen periods at once (bulk lookups)."""

    elderly: dict = field(default_factory=dict)
    diseases: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    public: dict = field(default_factory=dict)  # person id -> 公費 certificates in force
    newest_acquired: dict = field(default_factory=dict)


def _resolve(
    candidates: list[Qualification],
    on: date,
    include_limit: bool,
    *,
    whole_history: bool,
    preloaded: _Preloaded | None = None,
    chosen=None,
):
    """Pick the period that answers for `on` and give it its national meaning.

    `whole_history` says the candidates are every period of one person (lookup by person), so a
    newer qualification is found among them without another query; `preloaded` replaces the
    certificate and newer-period queries by what a bulk lookup fetched beforehand.
    """
    result = EligibilityResult(
        validity=Validity.NONE, on=on, matches=len(candidates), limit_included=include_limit
    )
    validity, q = chosen or _choose(candidates, on)
    if q is None:
        result.validity = validity
        return result
    result.person, result.qualification_row = q.person, q
    result.qualification = qualification_fields(q, on=on)
    if validity == Validity.VALID:
        result.validity = Validity.VALID
        if preloaded is not None:
            elderly = preloaded.elderly.get(q.pk)
            diseases = preloaded.diseases.get(q.pk, [])
            limit = preloaded.limits.get(q.pk) if include_limit else None
            public = preloaded.public.get(q.person_id, [])
        else:
            elderly, diseases, limit, public = _certificates(q.pk, on, include_limit)
        result.elderly_certificate = _elderly(elderly) if elderly else None
        result.specific_disease_certificates = [_disease(c) for c in diseases]
        # 公費 travels with the qualification: listed with a valid period, under the same consent item.
        result.public_expense_certificates = [_public_expense(c) for c in public]
        result.public_expense_rows = list(public)
        if include_limit:
            result.limit_certificate = _limit(limit) if limit else None
        return result
    result.reason_of_loss = q.reason_of_loss
    # Newer means begun by `on`: a period starting later did not exist on the day asked about.
    if whole_history:
        newer = any(q.acquired_on < other.acquired_on <= on for other in candidates)
    elif preloaded is not None:
        newer = preloaded.newest_acquired.get(q.person_id, q.acquired_on) > q.acquired_on
    else:
        newer = Qualification.objects.filter(
            person_id=q.person_id, acquired_on__gt=q.acquired_on, acquired_on__lte=on
        ).exists()
    result.validity = Validity.LOST_WITH_NEWER if newer else Validity.LOST
    return result


def _periods_matching(keys_list: list[SearchKeys]) -> list[int]:
    """Ids of the periods whose (insurer, 記号, 番号, 枝番) equal one of the keys, in one query
    whatever the number of keys: the keys travel as one JSON parameter joined against the search-key
    index (SQLite json_each, PostgreSQL jsonb_to_recordset), one index lookup per key."""
    insurer_ids = dict(
        Insurer.objects.filter(number__in={k.insurer_number for k in keys_list}).values_list("number", "id")
    )
    wanted = {
        (insurer_ids[k.insurer_number], k.symbol, k.number, k.branch)
        for k in keys_list
        if k.insurer_number in insurer_ids
    }
    if not wanted:
        return []
    connection = connections[router.db_for_read(Qualification)]
    table = connection.ops.quote_name(Qualification._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT q.id FROM jsonb_to_recordset(%s::jsonb) AS k(i bigint, s text, n text, b text) "
            f"JOIN {table} q ON q.insurer_id = k.i AND q.symbol = k.s AND q.number = k.n AND q.branch = k.b"
        )
        param = json.dumps([{"i": i, "s": s, "n": n, "b": b} for i, s, n, b in wanted], ensure_ascii=False)
    else:
        sql = (
            f"SELECT q.id FROM json_each(%s) AS k CROSS JOIN {table} q ON q.insurer_id = json_extract(k.value, '$[0]') "
            f"AND q.symbol = json_extract(k.value, '$[1]') AND q.number = json_extract(k.value, '$[2]') "
            f"AND q.branch = json_extract(k.value, '$[3]')"
        )
        param = json.dumps(sorted(wanted), ensure_ascii=False)
    with connection.cursor() as cursor:
        cursor.execute(sql, [param])
        return [row[0] for row in cursor.fetchall()]


def _normalized(keys: SearchKeys) -> SearchKeys:
    """Keys built by hand (not through clean_search_keys) get the stored spelling of 記号 and 番号."""
    symbol, number = normalize_card_key(keys.symbol), normalize_card_key(keys.number)
    if (symbol, number) == (keys.symbol, keys.number):
        return keys
    return replace(keys, symbol=symbol, number=number)


def resolve_many_by_keys(
    keys_list: list[SearchKeys], on=None, *, persons_filter=None, include_limit=False
) -> list:
    """Eligibility for many validated search keys (batch pre-check) in a fixed number of queries.

    `persons_filter(person_ids) -> allowed ids` is called once with every person the keys match;
    periods of persons it leaves out are dropped before resolving, so such an entry answers exactly
    as if nobody matched (4). `include_limit` is a bool or a callable person_id -> bool.
    Queries: insurers, matching period ids, those periods, newer periods, four certificate tables —
    whatever the number of keys (each `__in` list holds at most one value per key).
    """
    on = clean_date(on, "on") if on else timezone.localdate()
    if not keys_list:
        return []
    keys_list = [_normalized(k) for k in keys_list]
    by_keys: dict[tuple, list[Qualification]] = {}
    for q in Qualification.objects.filter(pk__in=_periods_matching(keys_list)).select_related(
        "person", "insurer"
    ):
        key = (q.insurer.number, q.symbol, q.number, q.branch, q.person.birth_date)
        by_keys.setdefault(key, []).append(q)
    if persons_filter is not None:
        matched = {q.person_id for qs in by_keys.values() for q in qs}
        allowed = set(persons_filter(matched)) if matched else set()
        by_keys = {k: [q for q in qs if q.person_id in allowed] for k, qs in by_keys.items()}
    wants_limit = include_limit if callable(include_limit) else (lambda person_id: include_limit)
    candidates = [
        by_keys.get((k.insurer_number, k.symbol, k.number, k.branch, k.birth_date), []) for k in keys_list
    ]
    chosen = [_choose(qs, on) for qs in candidates]
    valid = {q.pk for validity, q in chosen if validity == Validity.VALID}
    lost_persons = {q.person_id for validity, q in chosen if validity == Validity.LOST}
    limit_ids = {q.pk for validity, q in chosen if validity == Validity.VALID and wants_limit(q.person_id)}
    preloaded = _Preloaded()
    if lost_persons:
        for person_id, acquired_on in Qualification.objects.filter(
            person_id__in=lost_persons, acquired_on__lte=on
        ).values_list("person_id", "acquired_on"):
            if acquired_on > preloaded.newest_acquired.get(person_id, date.min):
                preloaded.newest_acquired[person_id] = acquired_on
    if valid:
        # Ascending order: the last one kept per period is the newest start, as .first() of "-valid_from".
        for cert in ElderlyCertificate.objects.filter(
            qualification_id__in=valid, valid_from__lte=on, valid_until__gte=on
        ).order_by("valid_from", "pk"):
            preloaded.elderly[cert.qualification_id] = cert
        for cert in (
            SpecificDiseaseCertificate.objects.filter(qualification_id__in=valid, valid_from__lte=on)
            .exclude(valid_until__lt=on)
            .order_by("valid_from", "pk")
        ):
            preloaded.diseases.setdefault(cert.qualification_id, []).append(cert)
        for cert in (
            PublicExpenseCertificate.objects.filter(
                person_id__in={q.person_id for validity, q in chosen if validity == Validity.VALID},
                valid_from__lte=on,
            )
            .exclude(valid_until__lt=on)
            .order_by("valid_from", "pk")
        ):
            preloaded.public.setdefault(cert.person_id, []).append(cert)
    if limit_ids:
        for cert in LimitCertificate.objects.filter(
            qualification_id__in=limit_ids, valid_from__lte=on, valid_until__gte=on
        ).order_by("valid_from", "pk"):
            preloaded.limits[cert.qualification_id] = cert
    results = []
    for qs, (validity, q) in zip(candidates, chosen):
        # As resolve_by_keys: the flag says whether 限度額 was asked for, whatever the validity.
        limit = wants_limit(q.person_id) if q is not None else (include_limit is True)
        results.append(
            _resolve(qs, on, limit, whole_history=False, preloaded=preloaded, chosen=(validity, q))
        )
    return results


def resolve_by_keys(
    insurer_number, symbol, number, branch, birth_date, on=None, *, include_limit: bool = False
) -> EligibilityResult:
    """Eligibility from the insurance-card search keys. Raises RegistryValidationError on bad keys."""
    today = timezone.localdate()
    on = clean_date(on, "on", today=today) if on else today
    keys = (
        _normalized(insurer_number)
        if isinstance(insurer_number, SearchKeys)
        else clean_search_keys(insurer_number, symbol, number, branch, birth_date, today=today)
    )
    candidates = list(
        Qualification.objects.filter(
            insurer__number=keys.insurer_number,
            symbol=keys.symbol,
            number=keys.number,
            branch=keys.branch,
            person__birth_date=keys.birth_date,
        ).select_related("person", "insurer")
    )
    return _resolve(candidates, on, include_limit, whole_history=False)


# The lookup by person runs on every read of the institutions' API: one hand-written statement
# (homeconsent.sqlrows says why not the ORM), a UNION ALL of the person's periods (with person and
# insurer) and the certificates of those periods in force on the day, all three tables. Each row:
# a tag, then the period, elderly, limit and disease columns, typed NULLs where not its own.
_QUALIFICATION, _PERSON, _INSURER = Columns(Qualification), Columns(Person), Columns(Insurer)
_ELDERLY, _LIMIT, _DISEASE, _PUBLIC = (
    Columns(ElderlyCertificate),
    Columns(LimitCertificate),
    Columns(SpecificDiseaseCertificate),
    Columns(PublicExpenseCertificate),
)
_SECTIONS = ((_QUALIFICATION, _PERSON, _INSURER), (_ELDERLY,), (_LIMIT,), (_DISEASE,), (_PUBLIC,))
_PERIOD, _ELDERLY_TAG, _LIMIT_TAG, _DISEASE_TAG, _PUBLIC_TAG = range(5)


@per_connection
def _union_sql(connection, by_person: bool) -> str:
    q = connection.ops.quote_name
    periods = table(Qualification, connection)

    def cells(tag, own_sql):
        out = [str(tag)]
        for i, section in enumerate(_SECTIONS):
            out += [own_sql] if i == tag else [columns.nulls(connection) for columns in section]
        return ", ".join(out)

    selects = []
    if by_person:
        selects.append(
            f"SELECT {cells(_PERIOD, ', '.join(c.sql(a, connection) for c, a in zip(_SECTIONS[0], 'qpi')))} "
            f"FROM {periods} q JOIN {table(Person, connection)} p ON p.{q('id')} = q.{q('person_id')} "
            f"JOIN {table(Insurer, connection)} i ON i.{q('id')} = q.{q('insurer_id')} WHERE q.{q('person_id')} = %s"
        )
    which = f"IN (SELECT {q('id')} FROM {periods} WHERE {q('person_id')} = %s)" if by_person else "= %s"
    for tag, columns in ((_ELDERLY_TAG, _ELDERLY), (_LIMIT_TAG, _LIMIT), (_DISEASE_TAG, _DISEASE)):
        until = f"c.{q('valid_until')} >= %s"
        if columns is _DISEASE:  # open-ended ones too
            until = f"(c.{q('valid_until')} IS NULL OR {until})"
        selects.append(
            f"SELECT {cells(tag, columns.sql('c', connection))} FROM {table(columns.model, connection)} c "
            f"WHERE c.{q('qualification_id')} {which} AND c.{q('valid_from')} <= %s AND {until}"
        )
    # 公費 certificates belong to the person: by person directly, by period through its person.
    whose = "= %s" if by_person else f"= (SELECT {q('person_id')} FROM {periods} WHERE {q('id')} = %s)"
    selects.append(
        f"SELECT {cells(_PUBLIC_TAG, _PUBLIC.sql('c', connection))} FROM {table(PublicExpenseCertificate, connection)} c "
        f"WHERE c.{q('person_id')} {whose} AND c.{q('valid_from')} <= %s "
        f"AND (c.{q('valid_until')} IS NULL OR c.{q('valid_until')} >= %s)"
    )
    return " UNION ALL ".join(selects)


def _read(by_person: bool, key, on: date, include_limit: bool) -> tuple[list[Qualification], _Preloaded]:
    """Periods (by person only) and the certificates in force on `on`, picked as the bulk path picks
    them: the newest start (then highest id) of elderly and limit, diseases by start then id."""
    using = router.db_for_read(Qualification)
    connection = connections[using]
    sql = _union_sql(connection, by_person)
    day = connection.ops.adapt_datefield_value(on)
    limit_key = key if include_limit else None  # no 限度額 row unless asked for
    params = ([key] if by_person else []) + [key, day, day, limit_key, day, day, key, day, day, key, day, day]
    with prepared_cursor(connection) as cursor:  # planning this UNION ALL costs more than running it
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _from_rows(rows, connection)


def _from_rows(rows, connection) -> tuple[list[Qualification], _Preloaded]:
    """Periods and certificates from rows of the UNION ALL (tag first)."""
    width = [sum(len(c) for c in section) for section in _SECTIONS]
    starts = [1 + sum(width[:i]) for i in range(len(_SECTIONS))]
    periods, preloaded, person = [], _Preloaded(), None
    for row in rows:
        tag = row[0]
        if tag == _PERIOD:
            period = _QUALIFICATION.instance(row, connection, starts[0])
            person = person or _PERSON.instance(row, connection, starts[0] + len(_QUALIFICATION))
            insurer = _INSURER.instance(row, connection, starts[0] + len(_QUALIFICATION) + len(_PERSON))
            Qualification.person.field.set_cached_value(period, person)
            Qualification.insurer.field.set_cached_value(period, insurer)
            periods.append(period)
        elif tag == _DISEASE_TAG:
            cert = _DISEASE.instance(row, connection, starts[tag])
            preloaded.diseases.setdefault(cert.qualification_id, []).append(cert)
        elif tag == _PUBLIC_TAG:
            cert = _PUBLIC.instance(row, connection, starts[tag])
            preloaded.public.setdefault(cert.person_id, []).append(cert)
        else:
            cert = (_ELDERLY if tag == _ELDERLY_TAG else _LIMIT).instance(row, connection, starts[tag])
            newest = preloaded.elderly if tag == _ELDERLY_TAG else preloaded.limits
            kept = newest.get(cert.qualification_id)
            if kept is None or (cert.valid_from, cert.pk) > (kept.valid_from, kept.pk):
                newest[cert.qualification_id] = cert
    for certs in (*preloaded.diseases.values(), *preloaded.public.values()):
        certs.sort(key=lambda c: (c.valid_from, c.pk))
    return periods, preloaded


def _certificates(qualification_id, on: date, include_limit: bool):
    """(elderly, diseases, limit, 公費) of one period (公費: of its person) in force on `on`, in one
    statement."""
    _, found = _read(False, qualification_id, on, include_limit)
    return (
        found.elderly.get(qualification_id),
        found.diseases.get(qualification_id, []),
        found.limits.get(qualification_id),
        next(iter(found.public.values()), []),
    )


def resolve_for_person(person, on=None, *, include_limit: bool = False) -> EligibilityResult:
    """Eligibility of a person (an object or a primary key), over their whole history: one query."""
    on = clean_date(on, "on") if on else timezone.localdate()
    person_id = person.pk if isinstance(person, Person) else person
    periods, preloaded = _read(True, person_id, on, include_limit)
    return _resolve(periods, on, include_limit, whole_history=True, preloaded=preloaded)


def person_union_sql(connection) -> tuple[str, int]:
    """The by-person UNION ALL (%s placeholders: person, person, day, day, person-or-NULL for 限度額,
    day, day, person, day, day, person, day, day) and its width, for a caller that runs it inside one database call
    (clinicapi.fastcheck); resolve_from_rows turns its rows into the same result."""
    return _union_sql(connection, True), 1 + sum(len(c) for section in _SECTIONS for c in section)


def union_columns():
    """The model fields of the by-person UNION ALL after its tag, in order."""
    return [f for section in _SECTIONS for columns in section for f in columns.fields]


def resolve_from_rows(rows, connection, on: date, *, include_limit: bool) -> EligibilityResult:
    """resolve_for_person's answer from rows of person_union_sql read elsewhere."""
    periods, preloaded = _from_rows(rows, connection)
    return _resolve(periods, on, include_limit, whole_history=True, preloaded=preloaded)


def resolve_for_card(card: CardCertificate, on=None, *, include_limit: bool = False) -> EligibilityResult:
    """Eligibility of the person a card's user-authentication certificate is linked to (the card path
    has already verified the card and its registration for insurance use)."""
    return resolve_for_person(card.person_id, on, include_limit=include_limit)
