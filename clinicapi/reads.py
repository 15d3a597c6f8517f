"""What an institution's system may read, checked against the patient's consent on every request.

Each function here is one read of the institutions' API: it resolves the opaque patient id, asks
consent.services.consent_for_read (never cached), reads the registry, and writes the access-log
row, all in one transaction, so a row exists exactly when the read committed. A refusal raises
not_found() (404) with the very body an unknown patient gets: another institution's patient, an item
outside the consent, a cancelled or expired consent all look like "no such patient".

The functions return plain dataclasses holding the rows read; clinicapi.presenters turns them into
JSON dicts, and a FHIR representation can be built from the same objects.
"""

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from homeconsent.audit.models import ActorType, Basis, Outcome
from homeconsent.audit.months import next_month
from homeconsent.audit.services import record_access, record_accesses
from homeconsent.consent import queries, rules
from homeconsent.consent.models import Consent, ConsentItem, ConsentKind
from homeconsent.consent.services import (
    consent_for_read,
    consents_for_read,
)
from homeconsent.dates import add_years
from homeconsent.errors import ErrorCode
from homeconsent.registry.eligibility import EligibilityResult, resolve_for_person, resolve_many_by_keys
from homeconsent.registry.models import CheckupResult, MedicationRecord, Person, TreatmentRecord
from homeconsent.registry.retention import CHECKUP_YEARS, MEDICATION_YEARS, TREATMENT_YEARS
from homeconsent.registry.validation import SearchKeys

from . import errors
from .auth import ApiAccess
from .patients import patient_id_for, person_id_from

CONSENT_KIND_NOT_LISTED = ErrorCode(
    "consent_kind_not_listed",
    "同意済み患者の一覧は訪問診療（home_visit）とオンライン診療（telehealth）だけです。",
    "Consented patients are listed for home_visit and telehealth only.",
)
RANGE_REVERSED = ErrorCode(
    "range_reversed",
    "期間の開始（{start}）が終了（{end}）より後です。",
    "The start of the range ({start}) is after its end ({end}).",
)


def not_found() -> errors.ApiRefusal:
    """404 not_found: the same body for "no such patient" and "not allowed" (and unknown URLs)."""
    return errors.ApiRefusal(errors.NOT_FOUND(), 404)


def tokyo_today() -> datetime.date:
    return rules.today()


def _log(access: ApiAccess, person_id, items, basis, consent, *, outcome=Outcome.OK, **detail):
    return record_access(
        actor_type=ActorType.INSTITUTION_CLIENT,
        actor_id=access.client_id,
        institution_code=access.institution_code,
        person=person_id,
        items=items,
        basis=basis,
        consent_id=consent.pk if consent is not None else None,
        outcome=outcome,
        detail=detail,
    )


def _readable(access: ApiAccess, patient_id: str, item: str) -> tuple[int, Consent]:
    """The person and the consent in force that lets this institution read `item`, or NotFound."""
    person_id = person_id_from(access.institution_code, patient_id)
    if person_id is None:
        raise not_found()
    consent = consent_for_read(access.institution_code, person_id, item)
    if consent is None:
        raise not_found()
    return person_id, consent


# --- consented patients -------------------------------------------------------------------------


@dataclass
class ConsentedPatient:
    patient_id: str
    person: Person | None  # None: the consent is not in force, so who the patient is stays withheld
    consent: Consent


@dataclass
class PatientPage:
    patients: list[ConsentedPatient]
    next_cursor: tuple | None  # (given_at, consent pk) of the last row when more follow
    at: datetime.datetime
    total: int | None = None  # rows matching the filters across all pages


def consented_patients(
    access: ApiAccess,
    institution,
    *,
    kind=None,
    consented_from=None,
    consented_to=None,
    visit_from=None,
    visit_to=None,
    status="in_force",
    after=None,
    limit=100,
) -> PatientPage:
    """One page of this institution's home-visit / telehealth consents, newest consent first
    (stable order: given_at, then id, both descending; `after` is the last row's (given_at, id)).

    Each listed patient's name and birth date are a read of their data: one access-log row each
    (item "consent"), written together. Only a consent in force now discloses the person; an ended
    or expired one lists the opaque patient id and the consent's own terms, nothing personal is
    read, and no row is logged for it.
    """
    if kind is not None and kind not in queries.LISTED_KINDS:
        raise errors.ApiRefusal(CONSENT_KIND_NOT_LISTED(), 400)
    for start, end in ((consented_from, consented_to), (visit_from, visit_to)):
        if start and end and start > end:
            raise errors.ApiRefusal(RANGE_REVERSED(start=start.isoformat(), end=end.isoformat()), 400)
    with transaction.atomic():
        page = queries.consented_patients(
            institution,
            kind=kind,
            given_from=consented_from,
            given_to=consented_to,
            visit_from=visit_from,
            visit_to=visit_to,
            status=status,
            after=after,
            limit=limit,
            count=True,
        )
        rows, more, now = page.consents, page.more, page.at
        patients = [
            ConsentedPatient(
                patient_id_for(institution.code, c.person_id), c.person if c.in_force else None, c
            )
            for c in rows
        ]
        record_accesses(
            {
                "actor_type": ActorType.INSTITUTION_CLIENT,
                "actor_id": access.client_id,
                "institution_code": access.institution_code,
                "person": c.person_id,
                "items": ["consent"],
                "basis": Basis.CONSENT,
                "consent_id": c.pk,
                "detail": {"read": "consented_patients"},
            }
            for c in rows
            if c.in_force
        )
    last = rows[-1] if more else None
    return PatientPage(patients, (last.given_at, last.pk) if last else None, now, page.total)


# --- eligibility ------------------------------------------------------------------------------
@dataclass
class EligibilityRead:
    patient_id: str
    consent: Consent | None
    result: EligibilityResult
    reference_classification: str  # 1 by card, 2 by insurance-card numbers (re-query)
    at: datetime.datetime = field(default_factory=timezone.now)


def eligibility(access: ApiAccess, patient_id: str, on: datetime.date | None = None) -> EligibilityRead:
    """Eligibility (資格情報) on `on` (default today) of a patient whose consent is in force now;
    限度額 information only when the consent includes limit_certificate."""
    on = on or tokyo_today()
    with transaction.atomic():
        person_id, consent = _readable(access, patient_id, ConsentItem.QUALIFICATION)
        include_limit = ConsentItem.LIMIT_CERTIFICATE in consent.items
        result = resolve_for_person(person_id, on, include_limit=include_limit)
        items = [ConsentItem.QUALIFICATION] + ([ConsentItem.LIMIT_CERTIFICATE] if include_limit else [])
        _log(
            access,
            person_id,
            items,
            Basis.CONSENT,
            consent,
            read="eligibility",
            on=on.isoformat(),
            validity=int(result.validity),
        )
    return EligibilityRead(patient_id, consent, result, "1")


def matched_persons(access: ApiAccess, keys_list, on, *, kind=None):
    """Bulk resolution restricted to the persons this institution may read; returns
    (results, consents by person id, person ids matched but refused)."""
    consents: dict[int, Consent] = {}
    refused: set[int] = set()

    def allowed(person_ids):
        consents.update(
            consents_for_read(access.institution_code, person_ids, ConsentItem.QUALIFICATION, kind=kind)
        )
        refused.update(set(person_ids) - set(consents))
        return consents.keys()

    def wants_limit(person_id):
        return ConsentItem.LIMIT_CERTIFICATE in consents[person_id].items

    results = resolve_many_by_keys(keys_list, on, persons_filter=allowed, include_limit=wants_limit)
    return results, consents, refused


def requery(access: ApiAccess, keys: SearchKeys, on: datetime.date | None = None) -> EligibilityRead:
    """再照会: eligibility by insurance-card numbers and birth date, for a person with a home-visit
    consent in force at this institution. Anyone else answers as nobody would: validity 4, no
    patient id. A matched person without that consent gets a refused row in their access log."""
    on = on or tokyo_today()
    with transaction.atomic():
        [result], consents, refused = matched_persons(access, [keys], on, kind=ConsentKind.HOME_VISIT)
        for person_id in sorted(refused):
            _log(
                access,
                person_id,
                [ConsentItem.QUALIFICATION],
                Basis.REQUERY,
                None,
                outcome=Outcome.REFUSED,
                read="requery",
            )
        consent = consents.get(result.person_id) if result.person is not None else None
        patient_id = ""
        if consent is not None:
            patient_id = patient_id_for(access.institution_code, result.person_id)
            items = [ConsentItem.QUALIFICATION] + (
                [ConsentItem.LIMIT_CERTIFICATE] if result.limit_included else []
            )
            _log(
                access,
                result.person_id,
                items,
                Basis.REQUERY,
                consent,
                read="requery",
                on=on.isoformat(),
                validity=int(result.validity),
            )
    return EligibilityRead(patient_id, consent, result, "2")


# --- medical information ------------------------------------------------------------------------
@dataclass
class MedicalRead:
    patient_id: str
    consent: Consent
    start: datetime.date
    end: datetime.date
    records: list
    at: datetime.datetime = field(default_factory=timezone.now)


def _clip(start, end, years, default_days):
    today = tokyo_today()
    end = min(end or today, today)
    start = start or end - datetime.timedelta(days=default_days)
    if start > end:
        raise errors.ApiRefusal(RANGE_REVERSED(start=start.isoformat(), end=end.isoformat()), 400)
    return max(start, add_years(today, -years)), end


def _medical_read(
    access,
    patient_id,
    item,
    model,
    date_field,
    start,
    end,
    *,
    years,
    default_days,
    order,
    related=(),
    **filters,
) -> MedicalRead:
    with transaction.atomic():
        person_id, consent = _readable(access, patient_id, item)
        start, end = _clip(start, end, years, default_days)
        rows = model.objects.filter(
            person_id=person_id, **{f"{date_field}__gte": start, f"{date_field}__lte": end}, **filters
        )
        if related:
            rows = rows.select_related(*related)
        rows = list(rows.order_by(*order))
        _log(
            access,
            person_id,
            [item],
            Basis.CONSENT,
            consent,
            read=str(item),
            start=start.isoformat(),
            end=end.isoformat(),
            count=len(rows),
        )
    return MedicalRead(patient_id, consent, start, end, rows)


# The medication read's rows and range, shared with its one-call form (clinicapi.fastmedication).
MEDICATION_DEFAULT_DAYS = 92
MEDICATION_ORDER = ("-dispensed_on", "source", "pk")
MEDICATION_RELATED = ("dispensing_institution", "prescribing_institution")


def month_end(month: datetime.date | None) -> datetime.date | None:
    """The last day of the month that starts on `month`."""
    return None if month is None else next_month(month) - datetime.timedelta(days=1)


def medication_window(month_from, month_to) -> tuple[datetime.date, datetime.date]:
    """The dispensing days a medication read covers (RANGE_REVERSED when it names none)."""
    return _clip(month_from, month_end(month_to), MEDICATION_YEARS, MEDICATION_DEFAULT_DAYS)


def medication_from(start: datetime.date, month_from) -> datetime.date:
    """The answer's "from": without month_from, the first of the month the default range begins in
    (the log row keeps the day read from)."""
    return start.replace(day=1) if month_from is None else start


def medication(access, patient_id, month_from=None, month_to=None, source=None) -> MedicalRead:
    """薬剤情報 by dispensing month (all three sources unless `source`), newest month first;
    months are given as their first day; at most the 3 years kept."""
    filters = {"source": source} if source else {}
    read = _medical_read(
        access,
        patient_id,
        ConsentItem.MEDICATION,
        MedicationRecord,
        "dispensed_on",
        month_from,
        month_end(month_to),
        years=MEDICATION_YEARS,
        default_days=MEDICATION_DEFAULT_DAYS,
        order=MEDICATION_ORDER,
        related=MEDICATION_RELATED,
        **filters,
    )
    read.start = medication_from(read.start, month_from)
    return read


def treatment(access, patient_id, date_from=None, date_to=None) -> MedicalRead:
    """診療情報 (procedures, no diagnoses) by treatment date, newest first."""
    return _medical_read(
        access,
        patient_id,
        ConsentItem.TREATMENT,
        TreatmentRecord,
        "treated_on",
        date_from,
        date_to,
        years=TREATMENT_YEARS,
        default_days=366,
        order=("-treated_on", "pk"),
        related=("institution",),
    )


def checkups(access, patient_id, date_from=None, date_to=None) -> MedicalRead:
    """特定健診等情報 by checkup date, newest first; at most the 5 years kept."""
    return _medical_read(
        access,
        patient_id,
        ConsentItem.CHECKUP,
        CheckupResult,
        "checked_on",
        date_from,
        date_to,
        years=CHECKUP_YEARS,
        default_days=5 * 366,
        order=("-checked_on", "item_code", "pk"),
    )
