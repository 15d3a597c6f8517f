"""Reads of single FHIR resources (Patient, Coverage, Consent, Organization) for the FHIR API.

Each is one read as in clinicapi.reads: resolve the opaque patient id the resource id starts with,
check the patient's consent now (never cached), read, and write the access-log row in the same
transaction. Whatever is refused answers reads.not_found(), the very 404 an unknown id gets.

What each read needs, the same as the JSON read that shows the same data:
- Patient (name, birth date, sex, address): a consent in force at this institution, as the
  consented-patients list discloses them; logged as item "consent".
- Coverage (a qualification period or a 公費 certificate): a consent in force that includes
  qualification, as the eligibility read; logged as item "qualification".
- Consent: this institution's own consent of that patient; terms of an ended consent are shown as
  the consented-patients list shows them (status=all), and only a consent in force is logged, since
  only then is the patient identified by it.
- MedicationDispense, Observation, Procedure: a consent in force that includes the item, within the
  years the JSON read keeps (3, 5, 3), as the medical reads; logged as that item.
- Organization: an institution or insurer of the registry: public registry data, no person, so no
  consent and no access-log row.
"""

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from homeconsent.audit.models import Basis
from homeconsent.consent.models import Consent, ConsentItem
from homeconsent.consent.services import consents_of_institution
from homeconsent.dates import add_years
from homeconsent.registry.models import (
    CheckupResult,
    Institution,
    Insurer,
    MedicationRecord,
    Person,
    PublicExpenseCertificate,
    Qualification,
    TreatmentRecord,
)
from homeconsent.registry.retention import CHECKUP_YEARS, MEDICATION_YEARS, TREATMENT_YEARS

from . import fhir
from .auth import ApiAccess
from .patients import person_id_from
from .reads import _log, _readable, not_found, tokyo_today


@dataclass
class PatientRead:
    patient_id: str
    person: Person
    consent: Consent


@dataclass
class CoverageRead:
    """A qualification period (with the 高齢受給者証 in force) or a 公費 certificate; the other is None."""

    patient_id: str
    qualification: Qualification | None
    elderly_certificate: object
    on: datetime.date
    public_expense: PublicExpenseCertificate | None = None


@dataclass
class ConsentRead:
    patient_id: str
    consent: Consent
    at: datetime.datetime


def _person_id(access: ApiAccess, patient_id: str) -> int:
    person_id = person_id_from(access.institution_code, patient_id)
    if person_id is None:
        raise not_found()
    return person_id


def _consent_in_force(institution, person_id: int, now) -> Consent | None:
    return consents_of_institution(institution, on=now).filter(person_id=person_id).first()


def patient(access: ApiAccess, institution, patient_id: str, *, included_by: str = "") -> PatientRead:
    """Patient/<id>, or the Patient a search _includes (included_by names that search)."""
    now = timezone.now()
    with transaction.atomic():
        person_id = _person_id(access, patient_id)
        consent = _consent_in_force(institution, person_id, now)
        if consent is None:
            raise not_found()
        person = Person.objects.get(pk=person_id)
        detail = {"read": "fhir_patient"} | ({"included_by": included_by} if included_by else {})
        _log(access, person_id, ["consent"], Basis.CONSENT, consent, **detail)
    return PatientRead(patient_id, person, consent)


def _with_id(rows, patient_id: str, record_type: str, resource_id: str):
    """The row whose FHIR id (fhir.record_id) is resource_id, or None."""
    return next((r for r in rows if fhir.record_id(patient_id, record_type, r.pk) == resource_id), None)


def coverage(access: ApiAccess, coverage_id: str) -> CoverageRead:
    """Coverage/<id>: one qualification period or 公費 certificate (which travels with qualification)
    of a patient whose consent includes qualification."""
    patient_id = fhir.patient_id_of_record(coverage_id)
    on = tokyo_today()
    with transaction.atomic():
        person_id, consent = _readable(access, patient_id, ConsentItem.QUALIFICATION)
        rows = Qualification.objects.filter(person_id=person_id).select_related("person", "insurer")
        found = _with_id(rows, patient_id, "coverage", coverage_id)
        public = None
        if found is None:
            certificates = PublicExpenseCertificate.objects.filter(person_id=person_id).select_related(
                "person"
            )
            public = _with_id(certificates, patient_id, "public_expense", coverage_id)
            if public is None:
                raise not_found()
        elderly = None
        if found is not None:
            elderly = (
                found.elderly_certificates.filter(valid_from__lte=on, valid_until__gte=on)
                .order_by("-valid_from")
                .first()
            )
        _log(
            access,
            person_id,
            [ConsentItem.QUALIFICATION],
            Basis.CONSENT,
            consent,
            read="fhir_coverage",
            on=on.isoformat(),
        )
    return CoverageRead(patient_id, found, elderly, on, public)


def consent(access: ApiAccess, institution, consent_id: str) -> ConsentRead:
    """Consent/<id>: one of this institution's consents of the patient the id names."""
    patient_id = fhir.patient_id_of_record(consent_id)
    now = timezone.now()
    with transaction.atomic():
        person_id = _person_id(access, patient_id)
        rows = Consent.objects.filter(institution=institution, person_id=person_id).select_related(
            "institution"
        )
        found = next((c for c in rows if fhir.consent_id(c, patient_id) == consent_id), None)
        if found is None:
            raise not_found()
        if consents_of_institution(institution, on=now).filter(pk=found.pk).exists():
            _log(access, person_id, ["consent"], Basis.CONSENT, found, read="fhir_consent")
    return ConsentRead(patient_id, found, now)


def organization(organization_id: str) -> dict:
    """Organization/institution-<10 digits> or Organization/insurer-<8 digits>, as FHIR."""
    prefix, _, number = str(organization_id).partition("-")
    if prefix == "institution" and number.isdigit() and len(number) == 10:
        found = Institution.objects.filter(code=number).first()
        if found is not None:
            return fhir.institution_organization(found)
    if prefix == "insurer" and number.isdigit() and len(number) == 8:
        # 国保 numbers are stored with 6 digits and served zero-padded to 8.
        candidates = [number] + ([number[2:]] if number.startswith("00") else [])
        found = Insurer.objects.filter(number__in=candidates).first()
        if found is not None:
            return fhir.insurer_organization(found)
    raise not_found()


def with_patient(access: ApiAccess, institution, patient_id: str, included_by: str, search):
    """A search and the Patient it _includes as one transaction: both access-log rows or neither (a
    consent cancelled between the two cannot leave a logged search whose answer was a 404)."""
    with transaction.atomic():
        found = search()
        subject = patient(access, institution, patient_id, included_by=included_by)
    return found, subject


# The medical rows: model, consent item, date field, years kept, related rows the resource shows.
MEDICAL_ROWS = {
    "medication": (
        MedicationRecord,
        ConsentItem.MEDICATION,
        "dispensed_on",
        MEDICATION_YEARS,
        ("dispensing_institution", "prescribing_institution"),
    ),
    "treatment": (
        TreatmentRecord,
        ConsentItem.TREATMENT,
        "treated_on",
        TREATMENT_YEARS,
        ("institution",),
    ),
    "checkup": (CheckupResult, ConsentItem.CHECKUP, "checked_on", CHECKUP_YEARS, ()),
}


def medical_resource(access: ApiAccess, item: str, resource_id: str) -> dict:
    """MedicationDispense/<id>, Observation/<id> or Procedure/<id>: one row a medical search
    returned, read under the same consent item and the same window of years kept, as FHIR."""
    model, consent_item, date_field, years, related = MEDICAL_ROWS[item]
    patient_id = fhir.patient_id_of_record(resource_id)
    today = tokyo_today()
    with transaction.atomic():
        person_id, consent = _readable(access, patient_id, consent_item)
        window = {f"{date_field}__gte": add_years(today, -years), f"{date_field}__lte": today}
        rows = list(
            model.objects.filter(person_id=person_id, **window).select_related(*related).order_by("pk")
        )
        found = next((r for r in rows if fhir.record_id(patient_id, item, r.pk) == resource_id), None)
        if found is None:
            raise not_found()
        day = getattr(found, date_field).isoformat()
        _log(
            access,
            person_id,
            [consent_item],
            Basis.CONSENT,
            consent,
            read=f"fhir_{item}",
            start=day,
            end=day,
            count=1,
        )
    if item == "medication":
        # Its RP is numbered within its dispensing, as in the search.
        numbers = fhir.rp_numbers([r for r in rows if fhir.dispensing(r) == fhir.dispensing(found)])
        return fhir.medication_dispense(found, patient_id, numbers[found.pk])
    return {"treatment": fhir.procedure, "checkup": fhir.observation}[item](found, patient_id)
