"""JSON representations of the institutions' API: plain dicts built from what clinicapi.reads
returned. FHIR (a second representation) builds from the same read objects.

Field names are the snake_case of the national interface's element names (reference/domain.md),
made mechanically by `snake()` (QualificationValidity → qualification_validity, Sex1 → sex1,
InsuredCardSymbol → insured_card_symbol), so the national name of every field is known. Dates are
ISO 8601 (YYYY-MM-DD) rather than the interface's yyyyMMdd; empty national values stay "".
docs/api-data.md lists every field with its national name.
"""

import datetime
import functools
import re
from zoneinfo import ZoneInfo

from homeconsent.registry.eligibility import EligibilityResult

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_YMD = re.compile(r"^\d{8}$")
_DATE_NAMES = ("Date", "Birthdate")
JAPAN = ZoneInfo("Asia/Tokyo")


@functools.cache
def snake(name: str) -> str:
    """The API field name of a national element name (cached: a batch converts the same few dozen
    names tens of thousands of times)."""
    return _CAMEL.sub("_", name).lower()


@functools.cache
def national_field(name: str) -> tuple[str, bool]:
    """(API name, whether a yyyyMMdd value of it is a date) of a national element name."""
    return snake(name), name.endswith(_DATE_NAMES)


def national(value):
    """Element names to snake_case, yyyyMMdd dates to ISO, recursively. (One loop, no call per
    leaf: a batch of 10,000 disclosed entries converts some 300,000 values.)"""
    if isinstance(value, dict):
        out = {}
        for name, v in value.items():
            key, dated = national_field(name)
            if isinstance(v, (dict, list)):
                v = national(v)
            elif dated and isinstance(v, str) and _YMD.match(v):
                v = f"{v[:4]}-{v[4:6]}-{v[6:]}"
            out[key] = v
        return out
    if isinstance(value, list):
        return [national(v) for v in value]
    return value


def iso(moment):
    """Dates as YYYY-MM-DD; times in Japan time with the offset, whole seconds
    (2026-11-26T02:31:05+09:00), whatever zone the database returns them in."""
    if moment is None:
        return None
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(JAPAN)
        return moment.replace(microsecond=0).isoformat()
    return moment.isoformat()


def consent(c) -> dict:
    """A consent's terms as the institution sees them (its own consents only)."""
    return {
        "consent_id": c.pk,
        "kind": c.kind,
        "items": list(c.items),
        "given_at": iso(c.given_at),
        "available_until": iso(c.available_until),
        "visit_date": iso(c.visit_date),
        "status": str(c.effective_status()),
        "ended_at": iso(c.ended_at),
        "ended_by": c.ended_by,
    }


def person(p) -> dict:
    return {
        "name": p.name,
        "name_kana": p.name_kana,
        "sex1": p.sex,
        "birthdate": iso(p.birth_date),
    }


def eligibility_result(result: EligibilityResult) -> dict:
    """QualificationValidity and the qualification, certificates and (if consented) 限度額 info."""
    out = national(result.as_dict())
    out.pop("validity", None)  # the int twin of qualification_validity
    out.pop("matches", None)
    return out


def eligibility(read, *, segment="1") -> dict:
    """GET …/eligibility and POST /requery."""
    return {
        "process_execution_time": iso(read.at),
        "reference_classification": read.reference_classification,
        "segment_of_result": segment,
        "patient_id": read.patient_id or None,
        "consent": consent(read.consent) if read.consent is not None else None,
        **eligibility_result(read.result),
    }


def consented_patients(page, next_cursor: str | None) -> dict:
    return {
        "process_execution_time": iso(page.at),
        "count": len(page.patients),
        "next_cursor": next_cursor,
        "patients": [
            # No identifying fields for a consent no longer in force (reads.consented_patients).
            {
                "patient_id": p.patient_id,
                **(person(p.person) if p.person else {}),
                "consent": consent(p.consent),
            }
            for p in page.patients
        ],
    }


def _code(institution):
    return institution.code if institution is not None else ""


def medication_record(r) -> dict:
    return {
        "source": r.source,
        "dispensing_date": iso(r.dispensed_on),
        "prescription_date": iso(r.prescribed_on),
        "dispensing_institution_code": _code(r.dispensing_institution),
        "dispensing_institution_name": r.dispensing_institution_name,
        "prescribing_institution_code": _code(r.prescribing_institution),
        "prescribing_institution_name": r.prescribing_institution_name,
        "in_hospital": r.in_hospital,
        "drug_code": r.drug_code,
        "yj_code": r.yj_code,
        "drug_name": r.drug_name,
        "ingredient_name": r.ingredient_name,
        "quantity": str(r.quantity.normalize()) if r.quantity is not None else None,
        "unit": r.unit,
        "usage": r.usage,
        "days": r.days,
        "special_instructions": r.special_instructions,
    }


def _header(read) -> dict:
    return {
        "process_execution_time": iso(read.at),
        "patient_id": read.patient_id,
        "consent": consent(read.consent),
        "from": iso(read.start),
        "to": iso(read.end),
        "count": len(read.records),
    }


def medication(read) -> dict:
    """薬剤情報 grouped by dispensing month (newest first), each record with its source."""
    months: dict[str, list] = {}
    for r in read.records:
        months.setdefault(r.dispensed_on.strftime("%Y-%m"), []).append(medication_record(r))
    return {**_header(read), "months": [{"month": m, "records": rows} for m, rows in months.items()]}


def treatment(read) -> dict:
    return {
        **_header(read),
        "records": [
            {
                "treatment_date": iso(r.treated_on),
                "institution_code": _code(r.institution),
                "institution_name": r.institution_name,
                "inpatient": r.inpatient,
                "procedure_code": r.procedure_code,
                "procedure_name": r.procedure_name,
                "times": r.times,
            }
            for r in read.records
        ],
    }


def checkups(read) -> dict:
    """特定健診等情報 grouped by checkup date (newest first)."""
    by_date: dict = {}
    for r in read.records:
        by_date.setdefault(
            r.checked_on,
            {"checkup_date": iso(r.checked_on), "institution_name": r.institution_name, "items": []},
        )["items"].append(
            {"item_code": r.item_code, "item_name": r.item_name, "value": r.value, "unit": r.unit}
        )
    return {**_header(read), "checkups": list(by_date.values())}


def cancelled(consents) -> dict:
    return {"cancelled": [consent(c) for c in consents]}


def batch(inquiry, entries: list, offset: int, limit: int) -> dict:
    """GET /batches/{reception_number}: the header with counts, and one page of entries."""
    end = offset + len(entries)
    return {
        **batch_received(inquiry),
        "offset": offset,
        "limit": limit,
        "next_offset": end if end < inquiry.entry_count else None,
        "entries": entries,
    }


def batch_received(inquiry) -> dict:
    """POST /batches: processed at once; the results are fetched by reception number."""
    return {
        "reception_number": inquiry.reception_number,
        "submitted_at": iso(inquiry.submitted_at),
        "reference_date": iso(inquiry.reference_date),
        "expires_at": iso(inquiry.expires_at),
        "entry_count": inquiry.entry_count,
        "normal_count": inquiry.normal_count,
        "error_count": inquiry.error_count,
    }
