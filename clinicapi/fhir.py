"""FHIR R4 views of the registry, consents and access log, in JP Core 1.2.0 terms.

Plain functions from model objects to JSON-ready dicts; nothing here reads the database except
through the objects it is handed (related objects should be select_related by the caller). Every
profile, extension, identifier system and code system that JP Core defines is taken from ONE
release, JP Core 1.2.0 (docs/fhir.md tables each with its source); the national tables JP Core 1.2.0
has no URI for keep their MHLW OID as urn:oid. Our own code lists (consent kind, consent item, the
card classification) use the `urn:homeconsent:` namespace.

Dates: qualification periods are date-only; FHIR's Period.end is the last day *in* force, so a
qualification lost on day D (喪失日, no longer insured from D) ends on D - 1.
"""

import base64
import hashlib
import hmac
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from rest_framework.renderers import JSONRenderer

FHIR_MEDIA_TYPE = "application/fhir+json"
FHIR_VERSION = "4.0.1"
JP_CORE_VERSION = "1.2.0"

# --- JP Core 1.2.0 profiles ------------------------------------------------------------------------
JP_CORE = "http://jpfhir.jp/fhir/core/StructureDefinition/"
PROFILE_PATIENT = JP_CORE + "JP_Patient"
PROFILE_COVERAGE = JP_CORE + "JP_Coverage"
PROFILE_ORGANIZATION = JP_CORE + "JP_Organization"
PROFILE_MEDICATION_DISPENSE = JP_CORE + "JP_MedicationDispense"
PROFILE_OBSERVATION = JP_CORE + "JP_Observation_Common"
PROFILE_PROCEDURE = JP_CORE + "JP_Procedure"
PROFILE_CONSENT = JP_CORE + "JP_Consent"

# --- extensions (JP Core 1.2.0, and FHIR R4's own for the name representation) ----------------------
JP_EXT = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/"
EXT_INSURED_SYMBOL = JP_EXT + "JP_Coverage_InsuredPersonSymbol"
EXT_INSURED_NUMBER = JP_EXT + "JP_Coverage_InsuredPersonNumber"
EXT_INSURED_BRANCH = JP_EXT + "JP_Coverage_InsuredPersonSubNumber"
EXT_PREFECTURE_NO = JP_EXT + "JP_Organization_PrefectureNo"  # valueCoding
EXT_ORG_CATEGORY = JP_EXT + "JP_Organization_InsuranceOrganizationCategory"  # valueCoding
EXT_ORG_NO = JP_EXT + "JP_Organization_InsuranceOrganizationNo"  # valueIdentifier
EXT_NAME_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"

# --- identifier systems (JP Core 1.2.0 namingSystemForIdentifier.fsh / aliases-jpcore.fsh) -----------
JP_MHLW = "http://jpfhir.jp/fhir/core/mhlw/"
SYSTEM_INSURER_NUMBER = JP_MHLW + "IdSystem/InsurerNumber"  # 保険者番号, 8 digits
SYSTEM_INSTITUTION_CODE = (
    "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"  # 医療機関等コード 10桁
)
SYSTEM_ORG_NO = JP_MHLW + "IdSystem/MedicalOrganizationID"  # 医療機関コード 7桁
SYSTEM_MEMBER_ID = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"  # 保険者番号:記号:番号:枝番
SYSTEM_PUBLIC_PAYER_NUMBER = JP_MHLW + "IdSystem/PublicPayerNumber"  # 公費負担者番号, 8 digits
SYSTEM_PUBLIC_RECIPIENT_NUMBER = JP_MHLW + "IdSystem/PublicInsuredPersonNumber"  # 公費受給者番号, 7 digits
SYSTEM_RP_NUMBER = JP_MHLW + "IdSystem/Medication-RPGroupNumber"  # RP番号
SYSTEM_ORDER_IN_RP = JP_MHLW + "IdSystem/MedicationAdministrationIndex"  # RP内の順序

# --- code systems ----------------------------------------------------------------------------------
SYSTEM_PREFECTURE_NO = JP_MHLW + "CodeSystem/PrefectureNo-2digits"  # 都道府県番号
SYSTEM_ORG_CATEGORY = JP_MHLW + "CodeSystem/MedicationFeeScoreType"  # 点数表番号
SYSTEM_INSURANCE_CATEGORY = JP_MHLW + "CodeSystem/InsuranceMajorCategory"  # 保険種別
SYSTEM_INSURED_CATEGORY = JP_MHLW + "CodeSystem/InsuredPersonCategory"  # 被保険者区分
SYSTEM_MERIT9_UNIT = JP_MHLW + "CodeSystem/MedicationUnitMERIT9Code"  # 医薬品単位略号
SYSTEM_YJ = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code"
SYSTEM_OBSERVATION_CATEGORY = "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"
SYSTEM_PROCEDURE_RECEIPT = (
    "http://jpfhir.jp/fhir/core/CodeSystem/JP_ProcedureCodesMedical_CS"  # 診療行為（レセ電算）
)
# National tables JP Core 1.2.0 gives no URI for: their MHLW / MEDIS OIDs.
SYSTEM_RECEIPT_DRUG = "urn:oid:1.2.392.100495.20.2.71"  # 医薬品コード（レセ電算医薬品マスター）
SYSTEM_CHECKUP_ITEM = "urn:oid:1.2.392.200119.6.1005"  # 特定健診項目コード表 (JLAC10 17桁)
# HL7 (FHIR R4 / THO) code systems.
SYSTEM_SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
SYSTEM_COPAY_TYPE = "http://terminology.hl7.org/CodeSystem/coverage-copay-type"
SYSTEM_COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
SYSTEM_ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
SYSTEM_DISPENSE_CATEGORY = "http://terminology.hl7.org/fhir/CodeSystem/medicationdispense-category"
SYSTEM_UCUM = "http://unitsofmeasure.org"
SYSTEM_CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
SYSTEM_CONSENT_CATEGORY = "http://loinc.org"
SYSTEM_CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
SYSTEM_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SYSTEM_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SYSTEM_AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
SYSTEM_RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
SYSTEM_AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
SYSTEM_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SYSTEM_DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# Ours.
SYSTEM_CONSENT_KIND = "urn:homeconsent:consent-kind"
SYSTEM_CONSENT_ITEM = "urn:homeconsent:consent-item"
SYSTEM_CARD_CLASSIFICATION = "urn:homeconsent:insured-card-classification"
SYSTEM_PUBLIC_EXPENSE_PROGRAMME = "urn:homeconsent:public-expense-programme"  # 法別番号
SYSTEM_ACCESS_BASIS = "urn:homeconsent:access-basis"
SYSTEM_ACTOR_TYPE = "urn:homeconsent:actor-type"
SYSTEM_ERROR = "urn:homeconsent:error"

INSURANCE_CATEGORY = {"1": "医保", "2": "国保", "7": "後期高齢者", "8": "公費"}
PUBLIC_EXPENSE = "8"  # 保険種別 of a 公費負担医療 Coverage
# Insurer kind (registry.InsurerKind) → 保険種別: 国保 and 国保組合 are 国保, 後期高齢者医療 its own, the rest 医保.
INSURANCE_CATEGORY_OF_KIND = {"kokuho": "2", "kokuho_kumiai": "2", "kouki": "7"}
# 本人・家族 (PersonalFamilyClassification) → 被保険者区分 and the HL7 relationship.
RELATIONSHIP = {"1": ("1", "被保険者", "self"), "2": ("2", "被扶養者", "other")}
GENDER = {"1": "male", "2": "female"}
# Units of the checkup masters → UCUM (code, display); unknown units keep their text without a code.
UCUM = {
    "kg/m2": "kg/m2",
    "cm": "cm",
    "mmHg": "mm[Hg]",
    "mg/dl": "mg/dL",
    "mg/dL": "mg/dL",
    "U/l": "U/L",
    "U/L": "U/L",
    "%": "%",
    "kg": "kg",
    "g/dl": "g/dL",
}


# --- small pieces ----------------------------------------------------------------------------------
def _date(day) -> str | None:
    return day.isoformat() if isinstance(day, date) and not isinstance(day, datetime) else None


def _instant(moment) -> str | None:
    """Japan time with its offset, whole seconds: as the JSON answers write times."""
    from .presenters import iso

    return iso(moment)


def _coding(system, code, display=None) -> dict:
    coding = {"system": system, "code": str(code)}
    if display:
        coding["display"] = str(display)
    return coding


def _concept(system, code, display=None, text=None) -> dict:
    concept = {"coding": [_coding(system, code, display)]}
    if text:
        concept["text"] = text
    return concept


def _drop_empty(value):
    """FHIR forbids empty strings, lists and objects: drop them, recursively."""
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        cleaned = [_drop_empty(v) for v in value]
        return [v for v in cleaned if v not in (None, "", [], {})]
    return value


SYSTEM_PATIENT_ID = "urn:homeconsent:patient-id"


def fhir_id(patient_id: str) -> str:
    """A patient id as a FHIR id: the same text (lower-case base32 fits [A-Za-z0-9\\-\\.]{1,64})."""
    return str(patient_id)


def record_id(patient_id: str, record_type: str, pk) -> str:
    """The FHIR id of a registry or consent row as one institution sees it: the institution's patient
    id, "-", and a digest of the row, so two institutions cannot link a patient by comparing ids (like
    the JSON API, which shows none), and a read (Coverage/<id>) finds the patient it must check the
    consent of without a lookup table. 26 + 1 + 16 characters of [a-z2-7-]: a FHIR id."""
    from .patients import derived_key

    # Keyed: without the server's secret an id cannot be made up for a row, nor a row number read from it.
    message = f"{patient_id}:{record_type}:{pk}".encode()
    digest = hmac.new(derived_key(b"fhir record id v1"), message, hashlib.sha256).digest()[:10]
    return f"{patient_id}-{base64.b32encode(digest).decode().lower()}"


def patient_id_of_record(resource_id: str) -> str:
    """The patient id a record_id starts with ("" when it has none)."""
    patient_id, _, digest = str(resource_id).partition("-")
    return patient_id if digest else ""


def reference(resource_type: str, resource_id, display=None) -> dict:
    if resource_type == "Patient":
        resource_id = fhir_id(resource_id)
    ref = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def institution_reference(code: str, name: str = "") -> dict:
    """A reference to an institution: readable (Organization/institution-<code>) and, for clients that
    match by business identifier, its 10-digit code too."""
    ref = {
        "reference": f"Organization/{institution_id(code)}",
        "type": "Organization",
        "identifier": {"system": SYSTEM_INSTITUTION_CODE, "value": code},
    }
    if name:
        ref["display"] = name
    return ref


def institution_id(code: str) -> str:
    return f"institution-{code}"


def insurer_id(number: str) -> str:
    return f"insurer-{insurer_number_8(number)}"


def insurer_number_8(number: str) -> str:
    """保険者番号 as JP Core writes it: 8 digits, a 6-digit 国保 number zero-padded (130013 → 00130013)."""
    number = str(number)
    return number.zfill(8) if number.isdigit() and len(number) < 8 else number


def _split_name(name: str) -> tuple[str, list[str]]:
    parts = name.replace("\u3000", " ").split()
    if len(parts) >= 2:
        return parts[0], parts[1:]
    return name, []


def _postal(code: str) -> str:
    return f"{code[:3]}-{code[3:]}" if len(code) == 7 and code.isdigit() else code


# --- Patient and Organization ----------------------------------------------------------------------
def patient(person, patient_id: str) -> dict:
    """Patient (JP_Patient): the name twice, kanji (IDE) and kana (SYL), as JP Core writes it.

    patient_id is the id this institution knows the person by (clinicapi.patients.patient_id_for).
    person None (a consent no longer in force): the identifier alone, nothing identifying.
    """
    if person is None:
        return {
            "resourceType": "Patient",
            "id": fhir_id(patient_id),
            "meta": {"profile": [PROFILE_PATIENT]},
            "identifier": [{"system": SYSTEM_PATIENT_ID, "value": patient_id}],
        }
    names = []
    for text, representation in ((person.name, "IDE"), (person.name_kana, "SYL")):
        if not text:
            continue
        family, given = _split_name(text)
        names.append(
            {
                "extension": [{"url": EXT_NAME_REPRESENTATION, "valueCode": representation}],
                "use": "official",
                "text": text,
                "family": family,
                "given": given,
            }
        )
    resource = {
        "resourceType": "Patient",
        "id": fhir_id(patient_id),
        "meta": {"profile": [PROFILE_PATIENT]},
        "identifier": [{"system": SYSTEM_PATIENT_ID, "value": patient_id}],
        "name": names,
        "gender": GENDER.get(person.sex, "unknown"),
        "birthDate": _date(person.birth_date),
        "address": [{"text": person.address, "postalCode": _postal(person.postal_code), "country": "JP"}]
        if person.address or person.postal_code
        else [],
    }
    return _drop_empty(resource)


def insurer_organization(insurer, resource_id=None) -> dict:
    """The payor: an Organization identified by its 保険者番号."""
    return _drop_empty(
        {
            "resourceType": "Organization",
            "id": resource_id or insurer_id(insurer.number),
            "meta": {"profile": [PROFILE_ORGANIZATION]},
            "identifier": [{"system": SYSTEM_INSURER_NUMBER, "value": insurer_number_8(insurer.number)}],
            "type": [_concept(SYSTEM_ORGANIZATION_TYPE, "pay", "Payer")],
            "name": insurer.name,
        }
    )


def institution_organization(institution, resource_id=None) -> dict:
    """An institution: 10-digit code, with prefecture and 点数表 as codings and the 7-digit number as an
    identifier, the value types JP Core 1.2.0's extensions take."""
    code = institution.code
    return _drop_empty(
        {
            "resourceType": "Organization",
            "id": resource_id or institution_id(code),
            "meta": {"profile": [PROFILE_ORGANIZATION]},
            "extension": [
                {"url": EXT_PREFECTURE_NO, "valueCoding": _coding(SYSTEM_PREFECTURE_NO, code[:2])},
                {"url": EXT_ORG_CATEGORY, "valueCoding": _coding(SYSTEM_ORG_CATEGORY, code[2])},
                {"url": EXT_ORG_NO, "valueIdentifier": {"system": SYSTEM_ORG_NO, "value": code[3:]}},
            ],
            "identifier": [{"system": SYSTEM_INSTITUTION_CODE, "value": code}],
            "type": [_concept(SYSTEM_ORGANIZATION_TYPE, "prov", "Healthcare Provider")],
            "name": institution.name,
        }
    )


# --- Coverage --------------------------------------------------------------------------------------
def member_id(qualification) -> str:
    """JP Core's 被保険者個人識別子: 保険者番号 (8 digits):記号:番号:枝番."""
    q = qualification
    return f"{insurer_number_8(q.insurer.number)}:{q.symbol}:{q.number}:{q.branch}"


def _ratio_percent(ratio: str) -> int:
    return int(ratio) // 10 * 10 if ratio else 0  # "030" → 30 (%)


def coverage(qualification, patient_id: str, *, on: date | None = None, elderly_certificate=None) -> dict:
    """Coverage (JP_Coverage) of one qualification period, with its payor contained.

    status is active when the period is valid on `on` (default: today), else cancelled. The copay is
    the 高齢受給者証's ratio when one is in force (given as elderly_certificate), else the card's.
    """
    from django.utils import timezone

    q = qualification
    on = on or timezone.localdate()
    category = INSURANCE_CATEGORY_OF_KIND.get(getattr(q.insurer, "kind", ""), "1")
    rel_code, rel_display, hl7_rel = RELATIONSHIP.get(q.personal_family, RELATIONSHIP["1"])
    ratio, ratio_text = q.contribution_ratio, "一部負担金割合"
    if elderly_certificate is not None:
        ratio, ratio_text = elderly_certificate.contribution_ratio, "一部負担金割合（高齢受給者証）"
    payor = insurer_organization(q.insurer, resource_id="insurer")
    payor.pop("meta", None)
    resource = {
        "resourceType": "Coverage",
        "id": record_id(patient_id, "coverage", q.pk),
        "meta": {"profile": [PROFILE_COVERAGE]},
        "contained": [payor],
        "extension": [
            {"url": EXT_INSURED_SYMBOL, "valueString": q.symbol},
            {"url": EXT_INSURED_NUMBER, "valueString": q.number},
            {"url": EXT_INSURED_BRANCH, "valueString": q.branch},
        ],
        "identifier": [
            {"system": SYSTEM_MEMBER_ID, "value": member_id(q), "assigner": {"reference": "#insurer"}}
        ],
        "status": "active" if q.is_valid_on(on) else "cancelled",
        "type": _concept(SYSTEM_INSURANCE_CATEGORY, category, INSURANCE_CATEGORY[category]),
        "subscriberId": f"{q.symbol}:{q.number}",
        "beneficiary": reference("Patient", patient_id, q.person.name),
        "dependent": q.branch,
        "relationship": {
            "coding": [
                _coding(SYSTEM_INSURED_CATEGORY, rel_code, rel_display),
                _coding(SYSTEM_SUBSCRIBER_RELATIONSHIP, hl7_rel),
            ]
        },
        "period": {
            "start": _date(q.acquired_on),
            "end": _date(q.lost_on - timedelta(days=1)) if q.lost_on else None,
        },
        # Contained, so the Coverage stands alone; the same insurer is readable as Organization/insurer-….
        "payor": [{"reference": "#insurer", "display": q.insurer.name}],
        "class": [
            {
                "type": _concept(SYSTEM_COVERAGE_CLASS, "plan"),
                "value": q.card_classification,
                "name": q.get_card_classification_display(),
            }
        ],
        "costToBeneficiary": [
            {
                "type": _concept(SYSTEM_COPAY_TYPE, "copaypct", "Copay Percentage", ratio_text),
                "valueQuantity": {
                    "value": _ratio_percent(ratio),
                    "unit": "%",
                    "system": SYSTEM_UCUM,
                    "code": "%",
                },
            }
        ],
    }
    if q.insured_name and q.personal_family != "1":
        resource["subscriber"] = {"display": q.insured_name}
    return _drop_empty(resource)


def public_expense_coverage(certificate, patient_id: str, *, person=None, on: date | None = None) -> dict:
    """Coverage (JP_Coverage) of one 公費 certificate, as JP_Coverage.fsh says for 公費: the payor the
    公費負担者 (a contained Organization with its 公費負担者番号), period the certificate's validity. The
    受給者番号 is the identifier and subscriberId, the 法別番号 a type coding beside 保険種別 8 (公費), the
    monthly self-pay ceiling costToBeneficiary, the designated institutions (医療機関等コード) the network.

    status is active when the certificate is valid on `on` (default: today), else cancelled. `person`
    (the holder, already read) names the beneficiary."""
    from django.utils import timezone

    c = certificate
    on = on or timezone.localdate()
    programme = c.get_programme_display()
    valid = c.valid_from <= on and (c.valid_until is None or on <= c.valid_until)
    payer = {
        "resourceType": "Organization",
        "id": "payer",
        "identifier": [{"system": SYSTEM_PUBLIC_PAYER_NUMBER, "value": c.payer_number}],
        "type": [_concept(SYSTEM_ORGANIZATION_TYPE, "pay", "Payer")],
    }
    ceiling = []
    if c.monthly_self_pay_limit is not None:
        ceiling = [
            {
                "type": _concept(
                    SYSTEM_COPAY_TYPE, "maxoutofpocket", "Maximum out of pocket", "自己負担上限月額"
                ),
                "valueMoney": {"value": c.monthly_self_pay_limit, "currency": "JPY"},
            }
        ]
    recipient = c.recipient_number
    return _drop_empty(
        {
            "resourceType": "Coverage",
            "id": record_id(patient_id, "public_expense", c.pk),
            "meta": {"profile": [PROFILE_COVERAGE]},
            "contained": [payer],
            "identifier": [
                {
                    "system": SYSTEM_PUBLIC_RECIPIENT_NUMBER,
                    "value": recipient,
                    "assigner": {"reference": "#payer"},
                }
            ]
            if recipient
            else [],
            "status": "active" if valid else "cancelled",
            "type": {
                "coding": [
                    _coding(SYSTEM_INSURANCE_CATEGORY, PUBLIC_EXPENSE, INSURANCE_CATEGORY[PUBLIC_EXPENSE]),
                    _coding(SYSTEM_PUBLIC_EXPENSE_PROGRAMME, c.programme, programme),
                ],
                "text": programme,
            },
            "subscriberId": recipient,
            "beneficiary": reference("Patient", patient_id, person.name if person else None),
            "period": {"start": _date(c.valid_from), "end": _date(c.valid_until)},
            "payor": [{"reference": "#payer", "display": f"{programme} {c.payer_number}"}],
            "network": c.designated_institutions,
            "costToBeneficiary": ceiling,
        }
    )


def coverage_for_eligibility(result, patient_id: str) -> dict | None:
    """Coverage of an eligibility answer (registry.eligibility.EligibilityResult), or None when no
    single qualification answers (validity 4 or 5)."""
    q = result.qualification_row
    if q is None:
        return None
    elderly = None
    if result.elderly_certificate:
        elderly = (
            q.elderly_certificates.filter(valid_from__lte=result.on, valid_until__gte=result.on)
            .order_by("-valid_from")
            .first()
        )
    return coverage(q, patient_id, on=result.on, elderly_certificate=elderly)


# --- Consent ---------------------------------------------------------------------------------------
def consent_id(consent, patient_id: str) -> str:
    return record_id(patient_id, "consent", consent.pk)


CONSENT_STATUS = {
    "active": "active",
    "superseded": "inactive",
    "cancelled": "inactive",
    "expired": "inactive",
}


def consent(consent, patient_id: str, *, now=None) -> dict:
    """Consent (JP_Consent): a privacy consent of the patient for one institution. The outer provision
    permits the institution (actor) to access during the consent's period; each consented item is a
    nested provision of its own, so a client reads "what may be read" as FHIR provisions."""
    from homeconsent.consent.models import ConsentItem, ConsentKind

    item_names = dict(ConsentItem.choices)
    effective = consent.effective_status(now)
    institution = consent.institution
    end = consent.available_until
    if consent.ended_at and (end is None or consent.ended_at < end):
        end = consent.ended_at
    resource = {
        "resourceType": "Consent",
        "id": consent_id(consent, patient_id),
        "meta": {"profile": [PROFILE_CONSENT]},
        "status": CONSENT_STATUS.get(effective, "inactive"),
        "scope": _concept(SYSTEM_CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
        "category": [
            _concept(SYSTEM_CONSENT_CATEGORY, "59284-0", "Patient Consent"),
            _concept(SYSTEM_CONSENT_KIND, consent.kind, dict(ConsentKind.choices).get(consent.kind)),
        ],
        "patient": reference("Patient", patient_id),
        "dateTime": _instant(consent.given_at),
        "performer": [reference("Patient", patient_id)],
        "organization": [institution_reference(institution.code, institution.name)],
        "policyRule": _concept(SYSTEM_ACT_CODE, "OPTIN", "opt-in"),
        "verification": [
            {
                "verified": bool(consent.card_certificate_id),
                "verifiedWith": reference("Patient", patient_id),
                "verificationDate": _instant(consent.given_at),
            }
        ],
        "provision": {
            "type": "permit",
            "period": {"start": _instant(consent.given_at), "end": _instant(end)},
            "actor": [
                {
                    "role": _concept(SYSTEM_PARTICIPATION_TYPE, "IRCP", "information recipient"),
                    "reference": institution_reference(institution.code, institution.name),
                }
            ],
            "action": [_concept(SYSTEM_CONSENT_ACTION, "access", "Access")],
            "provision": [
                {"type": "permit", "code": [_concept(SYSTEM_CONSENT_ITEM, item, item_names.get(item))]}
                for item in consent.items
            ],
        },
    }
    if consent.visit_date:
        resource["provision"]["dataPeriod"] = {
            "start": _date(consent.visit_date),
            "end": _date(consent.visit_date),
        }
    return _drop_empty(resource)


# --- MedicationDispense ----------------------------------------------------------------------------
def _quantity(value) -> float | int | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return int(number) if number == number.to_integral_value() else float(number)


# 医薬品単位略号 (MERIT-9) of the units the drug masters use; JP_MedicationSimpleQuantity needs a code.
MERIT9_UNIT = {
    "錠": "TAB",
    "カプセル": "CAP",
    "包": "HO",
    "本": "HON",
    "アンプル": "AMP",
    "回": "TIME",
    "g": "G",
    "mg": "MG",
    "mL": "ML",
    "枚": "MAI",
    "個": "KO",
}


def dispensing(record) -> tuple:
    """Which dispensing a 薬剤情報 row belongs to: its day, source and pharmacy."""
    return (
        record.dispensed_on,
        record.source,
        record.dispensing_institution_id,
        record.dispensing_institution_name,
    )


def rp_numbers(records) -> dict:
    """RP番号 and the order within the RP of each 薬剤情報 row, {pk: (rp, order)}: one dispensing is
    the rows of one day, source and pharmacy; within it, one RP per (用法, 日数), numbered in row order,
    as a prescription groups drugs taken the same way."""
    numbers, rps = {}, {}
    for record in sorted(records, key=lambda r: r.pk):
        groups = rps.setdefault(dispensing(record), {})
        rp = groups.setdefault((record.usage, record.days), {"number": len(groups) + 1, "rows": 0})
        rp["rows"] += 1
        numbers[record.pk] = (rp["number"], rp["rows"])
    return numbers


def medication_quantity(value, unit: str) -> dict:
    quantity = {"value": _quantity(value), "unit": unit}
    if unit in MERIT9_UNIT:
        quantity.update(system=SYSTEM_MERIT9_UNIT, code=MERIT9_UNIT[unit])
    return quantity


def medication_dispense(record, patient_id: str, rp: tuple[int, int] = (1, 1)) -> dict:
    """MedicationDispense (JP_MedicationDispense) of one 薬剤情報 row: receipt code and YJ code, the RP
    number and order within it (`rp`, from rp_numbers over the dispensing), MERIT-9 coded quantity."""
    codings = [_coding(SYSTEM_RECEIPT_DRUG, record.drug_code, record.drug_name)]
    if record.yj_code:
        codings.append(_coding(SYSTEM_YJ, record.yj_code, record.drug_name))
    dispenser = None
    if record.dispensing_institution_id:
        dispenser = institution_reference(
            record.dispensing_institution.code, record.dispensing_institution_name
        )
    elif record.dispensing_institution_name:
        dispenser = {"display": record.dispensing_institution_name}
    prescriber = None
    if record.prescribing_institution_id:
        prescriber = institution_reference(
            record.prescribing_institution.code, record.prescribing_institution_name
        )
    elif record.prescribing_institution_name:
        prescriber = {"display": record.prescribing_institution_name}
    notes = [{"text": text} for text in (record.special_instructions,) if text]
    resource = {
        "resourceType": "MedicationDispense",
        "id": record_id(patient_id, "medication", record.pk),
        "meta": {"profile": [PROFILE_MEDICATION_DISPENSE]},
        "identifier": [
            {"system": SYSTEM_RP_NUMBER, "value": str(rp[0])},
            {"system": SYSTEM_ORDER_IN_RP, "value": str(rp[1])},
        ],
        "status": "completed",
        "category": _concept(SYSTEM_DISPENSE_CATEGORY, "inpatient" if record.in_hospital else "outpatient"),
        "medicationCodeableConcept": {"coding": codings, "text": record.drug_name},
        "subject": reference("Patient", patient_id),
        "performer": [{"actor": dispenser}] if dispenser else [],
        "quantity": medication_quantity(record.quantity, record.unit),
        "daysSupply": {"value": record.days, "unit": "日", "system": SYSTEM_UCUM, "code": "d"},
        "whenPrepared": _date(record.dispensed_on),
        "whenHandedOver": _date(record.dispensed_on),
        "dosageInstruction": [{"text": record.usage}] if record.usage else [],
        "note": notes,
        "extension": [],
    }
    if prescriber or record.prescribed_on:
        # No MedicationRequest exists here; the prescription's date and institution travel in the
        # authorizing reference's display, which FHIR allows for a reference without a target.
        label = "処方"
        if record.prescribed_on:
            label += f" {record.prescribed_on.isoformat()}"
        if prescriber and prescriber.get("display"):
            label += f" {prescriber['display']}"
        resource["authorizingPrescription"] = [{"display": label}]
    if record.ingredient_name:
        resource["note"].append({"text": f"成分名: {record.ingredient_name}"})
    return _drop_empty(resource)


# --- Observation -----------------------------------------------------------------------------------
def observation_category(item_code: str) -> str:
    """JP Core's simple category of a 特定健診 item by its JLAC10 analyte class: 9N body measurements
    (身長, 体重, BMI, 腹囲), 9A vital signs (血圧), everything else a laboratory test (blood, urine)."""
    if item_code.startswith("9N"):
        return "body-measurement"
    if item_code.startswith("9A"):
        return "vital-signs"
    return "laboratory"


CATEGORY_DISPLAY = {
    "body-measurement": "Body Measurement",
    "vital-signs": "Vital Signs",
    "laboratory": "Laboratory",
}


def observation(result, patient_id: str) -> dict:
    """Observation (JP_Observation_Common) of one 特定健診 item: the 17-character item code, the JP Core
    category that 1.2.0 requires, a Quantity when numeric."""
    category = observation_category(result.item_code)
    value = (result.value or "").strip()
    resource = {
        "resourceType": "Observation",
        "id": record_id(patient_id, "checkup", result.pk),
        "meta": {"profile": [PROFILE_OBSERVATION]},
        "status": "final",
        "category": [_concept(SYSTEM_OBSERVATION_CATEGORY, category, CATEGORY_DISPLAY[category])],
        "code": {
            "coding": [_coding(SYSTEM_CHECKUP_ITEM, result.item_code, result.item_name)],
            "text": result.item_name,
        },
        "subject": reference("Patient", patient_id),
        "effectiveDateTime": _date(result.checked_on),
        "performer": [{"display": result.institution_name}] if result.institution_name else [],
    }
    number = _quantity(value) if value else None
    if number is not None:
        quantity = {"value": number}
        if result.unit:
            quantity["unit"] = result.unit
            if result.unit in UCUM:
                quantity.update(system=SYSTEM_UCUM, code=UCUM[result.unit])
        resource["valueQuantity"] = quantity
    elif value:
        resource["valueString"] = value
    else:
        resource["dataAbsentReason"] = _concept(SYSTEM_DATA_ABSENT, "unknown", "Unknown")
    return _drop_empty(resource)


# --- Procedure -------------------------------------------------------------------------------------


def procedure(record, patient_id: str) -> dict:
    """Procedure of one 診療情報 row: the receipt 診療行為 code, date, institution; no diagnosis."""
    performer = None
    if record.institution_id:
        performer = institution_reference(record.institution.code, record.institution_name)
    elif record.institution_name:
        performer = {"display": record.institution_name}
    return _drop_empty(
        {
            "resourceType": "Procedure",
            "id": record_id(patient_id, "treatment", record.pk),
            "meta": {"profile": [PROFILE_PROCEDURE]},
            "status": "completed",
            "category": {"text": "入院" if record.inpatient else "入院外"},
            "code": {
                "coding": [_coding(SYSTEM_PROCEDURE_RECEIPT, record.procedure_code, record.procedure_name)],
                "text": record.procedure_name,
            },
            "subject": reference("Patient", patient_id),
            "performedDateTime": _date(record.treated_on),
            "performer": [{"actor": performer}] if performer else [],
            "note": [{"text": f"回数: {record.times}"}] if record.times and record.times != 1 else [],
        }
    )


# --- AuditEvent ------------------------------------------------------------------------------------
OUTCOME = {"ok": "0", "refused": "4", "not_found": "4"}


def audit_event(event, patient_id: str | None = None) -> dict:
    """AuditEvent of one access-log row: who read whose items, on what basis, with what outcome."""
    from homeconsent.audit.models import ActorType, Basis

    agent_who = {"display": event.actor_id}
    if event.institution_code:
        agent_who = {
            "identifier": {"system": SYSTEM_INSTITUTION_CODE, "value": event.institution_code},
            "display": event.actor_id,
        }
    entities = []
    if event.person_id and patient_id:
        entities.append(
            {
                "what": reference("Patient", patient_id),
                "type": _coding(SYSTEM_AUDIT_ENTITY_TYPE, "1", "Person"),
                "role": _coding(SYSTEM_OBJECT_ROLE, "1", "Patient"),
                "detail": [{"type": "items", "valueString": ",".join(event.items)}] if event.items else [],
            }
        )
    if event.consent_id and patient_id:
        entities.append(
            {
                "what": reference("Consent", record_id(patient_id, "consent", event.consent_id)),
                "type": _coding(SYSTEM_AUDIT_ENTITY_TYPE, "2", "System Object"),
            }
        )
    return _drop_empty(
        {
            "resourceType": "AuditEvent",
            "id": f"{event.chain}-{event.seq}",
            "type": _coding(SYSTEM_AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
            "subtype": [_coding(SYSTEM_RESTFUL_INTERACTION, "read", "read")],
            "action": "R",
            "recorded": _instant(event.occurred_at),
            "outcome": OUTCOME.get(event.outcome, "4"),
            "outcomeDesc": event.get_outcome_display(),
            "purposeOfEvent": [
                _concept(SYSTEM_ACCESS_BASIS, event.basis, dict(Basis.choices).get(event.basis))
            ],
            "agent": [
                {
                    "type": _concept(
                        SYSTEM_ACTOR_TYPE, event.actor_type, dict(ActorType.choices).get(event.actor_type)
                    ),
                    "who": agent_who,
                    "requestor": True,
                }
            ],
            "source": {"observer": {"display": "HomeConsent"}},
            "entity": entities,
        }
    )


# --- Bundle ----------------------------------------------------------------------------------------
def full_url(base_url: str, resource: dict) -> str:
    """Where a resource of a Bundle lives: base/Type/id, or a urn:uuid for one that is not stored
    (an OperationOutcome telling why a search found nothing)."""
    if not resource.get("id"):
        import uuid

        return f"urn:uuid:{uuid.uuid4()}"
    return f"{base_url.rstrip('/')}/{resource['resourceType']}/{resource['id']}"


def searchset(
    resources,
    *,
    base_url: str,
    self_url: str | None = None,
    next_url: str | None = None,
    included=(),
    outcome=None,
    total: int | None = -1,
) -> dict:
    """A searchset Bundle: `resources` are matches, `included` are resources they refer to (once
    each), `outcome` an OperationOutcome entry. Every entry has its fullUrl under base_url (the FHIR
    base, ".../api/v1/fhir/"). total: the number of matches across all pages; None leaves it out
    (FHIR allows that where counting would cost); the default, -1, counts `resources` (one page
    that is the whole result)."""
    entries, seen = [], set()
    pairs = [(r, "match") for r in resources] + [(r, "include") for r in included]
    pairs += [(outcome, "outcome")] if outcome is not None else []
    for resource, mode in pairs:
        key = (resource["resourceType"], resource.get("id"))
        if mode == "include" and key in seen:
            continue
        seen.add(key)
        entries.append(
            {"fullUrl": full_url(base_url, resource), "resource": resource, "search": {"mode": mode}}
        )
    bundle = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = len(resources) if total == -1 else total
    links = [("self", self_url), ("next", next_url)]
    bundle["link"] = [{"relation": relation, "url": url} for relation, url in links if url]
    bundle["entry"] = entries
    return _drop_empty(bundle)


# --- whole reads (clinicapi.reads) as Bundles --------------------------------------------------------
def patients_bundle(page, *, include_consents: bool = True, **links) -> dict:
    """The consented-patients page: a Patient per row, each row's Consent included (the JSON
    path's answer and `_revinclude=Consent:patient`). total is the count across pages when the read
    gives one (PatientPage.total), else absent."""
    patients = [patient(row.person, row.patient_id) for row in page.patients]
    consents = (
        [consent(row.consent, row.patient_id, now=page.at) for row in page.patients]
        if include_consents
        else []
    )
    return searchset(patients, included=consents, total=getattr(page, "total", None), **links)


def eligibility_bundle(read, *, include_patient: bool = True, **links) -> dict:
    """An eligibility or 再照会 answer: the Coverage (cancelled when lost), one Coverage per 公費
    certificate valid on the day and, included, its Patient; when no single qualification answers
    (validity 4 or 5, or nobody this institution may read), no match but an OperationOutcome saying so."""
    result = read.result
    found = coverage_for_eligibility(result, read.patient_id) if read.patient_id else None
    if found is None:
        outcome = operation_outcome(
            f"validity_{int(result.validity)}",
            "該当する資格がありません。" if int(result.validity) != 5 else "複数の資格が該当します。",
            severity="information",
            issue_code="not-found",
        )
        return searchset([], outcome=outcome, **links)
    included = []
    if include_patient and result.person is not None:
        included.append(patient(result.person, read.patient_id))
    # 公費 travels with the qualification: one Coverage per certificate valid on the day asked about.
    public = [
        public_expense_coverage(c, read.patient_id, person=result.person, on=result.on)
        for c in result.public_expense_rows
    ]
    return searchset([found, *public], included=included, **links)


def medical_resources(read, item: str) -> list[dict]:
    """A medical read (medication, treatment or checkup): one resource per record."""
    if item == "medication":
        numbers = rp_numbers(read.records)
        return [medication_dispense(record, read.patient_id, numbers[record.pk]) for record in read.records]
    build = {"treatment": procedure, "checkup": observation}[item]
    return [build(record, read.patient_id) for record in read.records]


def medical_bundle(read, item: str, *, included=(), **links) -> dict:
    return searchset(medical_resources(read, item), included=included, **links)


ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-costly",
    415: "not-supported",
    429: "throttled",
    500: "exception",
}


def operation_outcome(
    code: str, message: str, *, severity: str = "error", issue_code: str = "processing"
) -> dict:
    """An error as FHIR clients expect it; `code` is our stable error code."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": issue_code,
                "details": {"coding": [_coding(SYSTEM_ERROR, code)], "text": message},
            }
        ],
    }


def field_issues(details) -> list[dict]:
    """input_invalid's details as issues: one per field problem, expression the field (as the JSON
    answer names it), details the code and Japanese message, diagnostics the English one."""
    issues = []
    for field, problems in (details or {}).items() if isinstance(details, dict) else ():
        for problem in problems if isinstance(problems, list) else [problems]:
            if not isinstance(problem, dict):
                problem = {"code": "invalid", "message": str(problem), "message_en": str(problem)}
            issues.append(
                {
                    "severity": "error",
                    "code": "invalid",
                    "details": {
                        "coding": [_coding(SYSTEM_ERROR, problem.get("code") or "invalid")],
                        "text": problem.get("message", ""),
                    },
                    "diagnostics": problem.get("message_en", ""),
                    "expression": [str(field)],
                }
            )
    return _drop_empty(issues)


class FhirJsonRenderer(JSONRenderer):
    """application/fhir+json for DRF content negotiation (format suffix/`?_format=fhir`)."""

    media_type = FHIR_MEDIA_TYPE
    format = "fhir"
    charset = "utf-8"
    ensure_ascii = False

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if (
            response is not None
            and response.status_code >= 400
            and isinstance(data, dict)
            and "code" in data
            and "resourceType" not in data
        ):
            # A refusal asked for as FHIR: the same code and messages, as an OperationOutcome.
            outcome = operation_outcome(
                data["code"],
                data.get("message", ""),
                issue_code=ISSUE_CODE.get(response.status_code, "processing"),
            )
            if data.get("message_en"):
                outcome["issue"][0]["diagnostics"] = data["message_en"]
            outcome["issue"] += field_issues(data.get("details"))
            data = outcome
        return super().render(data, accepted_media_type, renderer_context)


def wants_fhir(request) -> bool:
    """The client asked for FHIR: DRF chose the FHIR renderer (Accept: application/fhir+json)."""
    renderer = getattr(request, "accepted_renderer", None)
    return isinstance(renderer, FhirJsonRenderer)


# --- content negotiation in the data views -----------------------------------------------------------
RENDERERS = [JSONRenderer, FhirJsonRenderer]  # JSON first: the default without an Accept header
BUNDLES = {
    "patients": patients_bundle,
    "eligibility": eligibility_bundle,
    "medication": lambda read, **kw: medical_bundle(read, "medication", **kw),
    "treatment": lambda read, **kw: medical_bundle(read, "treatment", **kw),
    "checkup": lambda read, **kw: medical_bundle(read, "checkup", **kw),
}
# What `_include` a search accepts: its subject, the Patient.
# (R4 defines both search parameters for the subject of each: clients such as fhirclient send `subject`.)
PATIENT_INCLUDES = {
    "medication": ("MedicationDispense:patient", "MedicationDispense:subject"),
    "treatment": ("Procedure:patient", "Procedure:subject"),
    "checkup": ("Observation:patient", "Observation:subject"),
    "eligibility": ("Coverage:beneficiary", "Coverage:patient"),
}


def base_url(request) -> str:
    """The FHIR base of this server as the client reached it: .../api/v1/fhir/."""
    from django.urls import reverse

    return request.build_absolute_uri(reverse("clinicapi:fhir-metadata")).rsplit("/metadata", 1)[0] + "/"


def page_links(request, next_cursor: str | None) -> dict:
    """self: this request's URL; next: the same query with `cursor` set, when a next page exists."""
    from urllib.parse import urlencode

    links = {"base_url": base_url(request), "self_url": request.build_absolute_uri()}
    if next_cursor:
        query = request.query_params.copy()
        query["cursor"] = next_cursor
        links["next_url"] = (
            request.build_absolute_uri(request.path) + "?" + urlencode(sorted(query.lists()), doseq=True)
        )
    return links


def wants_include(request, representation: str) -> bool:
    """The search asked for its Patient: `_include=<Type>:patient` (or `*`)."""
    wanted = request.query_params.getlist("_include")
    return any(value == "*" or value in PATIENT_INCLUDES.get(representation, ()) for value in wanted)


def search_with_patient(request, representation: str, patient_id: str, search):
    """search() and, when a FHIR client asked for `_include` of the Patient, the Patient read with it
    in one transaction (clinicapi.fhir_reads.with_patient): (the search's result, [Patient] or [])."""
    if not (wants_fhir(request) and wants_include(request, representation)):
        return search(), []
    from . import fhir_reads

    found, subject = fhir_reads.with_patient(
        request.auth, request.user.institution, patient_id, representation, search
    )
    return found, [patient(subject.person, subject.patient_id)]


def respond(request, read, representation: str, present_json, *, next_cursor: str | None = None, included=()):
    """The answer of a data view: the FHIR Bundle of `read` built by BUNDLES[representation] when the
    client asked for application/fhir+json, else present_json() (the national-names JSON). A next
    page is linked with the same query and `cursor`; `included` are resources the search _included."""
    from rest_framework.response import Response

    if not wants_fhir(request):
        return Response(present_json())
    extra = {"included": included} if included else {}
    return Response(BUNDLES[representation](read, **extra, **page_links(request, next_cursor)))
