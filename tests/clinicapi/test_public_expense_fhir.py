"""公費 certificates in the FHIR eligibility answer (GET Coverage?patient=&on=): one JP_Coverage per
certificate the JSON answer lists for that day, with JP Core's conventions for public payers, under
the unchanged consent rules (the qualification item, one access-log row per search)."""

import datetime

import pytest
from fhir.resources.R4B.coverage import Coverage

from clinicapi import fhir
from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from homeconsent.registry.codes import with_check_digit
from tests.clinicapi.conftest import register_consent

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def fhir_get(api, path, **params):
    return api.http.get(
        "/api/v1/fhir/" + path,
        params,
        HTTP_ACCEPT=fhir.FHIR_MEDIA_TYPE,
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )


def public_coverages(bundle) -> list[dict]:
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] == "Coverage"
        and e["resource"]["type"]["coding"][0]["code"] == fhir.PUBLIC_EXPENSE
    ]


def from_fhir(coverage) -> tuple:
    """(法別番号, 公費負担者番号, 受給者番号, start, end) as a Coverage carries them."""
    [programme] = [
        c["code"] for c in coverage["type"]["coding"] if c["system"] == fhir.SYSTEM_PUBLIC_EXPENSE_PROGRAMME
    ]
    [payer] = coverage["contained"]
    return (
        programme,
        payer["identifier"][0]["value"],
        coverage.get("subscriberId", ""),
        coverage["period"]["start"],
        coverage["period"].get("end", ""),
    )


def from_json(certificate) -> tuple:
    return (
        certificate["public_expense_law_number"],
        certificate["public_expense_payer_number"],
        certificate["public_expense_recipient_number"],
        certificate["public_expense_valid_start_date"],
        certificate["public_expense_valid_end_date"],
    )


@pytest.mark.parametrize("offset", [-91, -31, -1, 0, 1, 366])
def test_the_coverages_are_the_certificates_of_the_json_answer_on_that_day(clinic_api, holder, offset):
    # given a patient holding certificates valid over different spans, and a day inside or outside each
    patient, today = holder
    pid = patient_id_for(clinic_api.institution.code, patient.person.pk)
    on = (today + offset * DAY).isoformat()

    # when the institution asks for eligibility on that day as JSON and as FHIR
    as_json = clinic_api.get(f"/api/v1/patients/{pid}/eligibility", on=on).json()
    bundle = fhir_get(clinic_api, "Coverage", patient=pid, on=on).json()

    # then the FHIR answer has one Coverage per certificate of the JSON answer, in the same order
    expected = [from_json(c) for c in as_json["public_expense_certificate_list"]]
    assert [from_fhir(c) for c in public_coverages(bundle)] == expected
    assert bundle["total"] == 1 + len(expected)  # the insurance Coverage and the 公費 ones are all matches
    assert {c["status"] for c in public_coverages(bundle)} <= {"active"}


def test_offsets_cover_days_with_none_one_and_two_certificates(clinic_api, holder):
    # The parametrized test above compares like with like; this pins what those days hold.
    patient, today = holder
    pid = patient_id_for(clinic_api.institution.code, patient.person.pk)

    def programmes(offset):
        bundle = fhir_get(clinic_api, "Coverage", patient=pid, on=(today + offset * DAY).isoformat()).json()
        return [from_fhir(c)[0] for c in public_coverages(bundle)]

    assert [programmes(o) for o in (-91, -31, -1, 0, 1)] == [[], ["12"], ["12", "54"], ["12"], ["12", "21"]]


def test_a_certificate_coverage_follows_jp_core_for_public_payers(clinic_api, holder):
    # given the day the 精神通院 certificate (ceiling, designated institutions) begins
    patient, today = holder
    pid = patient_id_for(clinic_api.institution.code, patient.person.pk)

    # when the eligibility is asked for as FHIR
    bundle = fhir_get(clinic_api, "Coverage", patient=pid, on=(today + DAY).isoformat()).json()

    # then its Coverage is a JP_Coverage whose payor is the 公費負担者, identified by its number
    [welfare, seishin] = public_coverages(bundle)
    Coverage.model_validate(seishin)
    assert seishin["meta"]["profile"] == [fhir.PROFILE_COVERAGE]
    assert seishin["contained"] == [
        {
            "resourceType": "Organization",
            "id": "payer",
            "identifier": [{"system": fhir.SYSTEM_PUBLIC_PAYER_NUMBER, "value": "21130018"}],
            "type": [
                {"coding": [{"system": fhir.SYSTEM_ORGANIZATION_TYPE, "code": "pay", "display": "Payer"}]}
            ],
        }
    ]
    assert seishin["payor"] == [{"reference": "#payer", "display": "自立支援医療 精神通院医療 21130018"}]
    recipient = with_check_digit("654321")
    assert seishin["identifier"] == [
        {
            "system": fhir.SYSTEM_PUBLIC_RECIPIENT_NUMBER,
            "value": recipient,
            "assigner": {"reference": "#payer"},
        }
    ]
    assert seishin["subscriberId"] == recipient
    assert seishin["type"]["coding"] == [
        {"system": fhir.SYSTEM_INSURANCE_CATEGORY, "code": "8", "display": "公費"},
        {
            "system": fhir.SYSTEM_PUBLIC_EXPENSE_PROGRAMME,
            "code": "21",
            "display": "自立支援医療 精神通院医療",
        },
    ]
    assert seishin["period"] == {"start": (today + DAY).isoformat(), "end": (today + 365 * DAY).isoformat()}
    assert seishin["costToBeneficiary"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": fhir.SYSTEM_COPAY_TYPE,
                        "code": "maxoutofpocket",
                        "display": "Maximum out of pocket",
                    }
                ],
                "text": "自己負担上限月額",
            },
            "valueMoney": {"value": 5000, "currency": "JPY"},
        }
    ]
    assert seishin["network"] == "0110113719 0140110008"
    assert seishin["beneficiary"]["reference"] == f"Patient/{pid}"
    # 医療扶助 here: no 受給者番号, no ceiling, open-ended, any institution
    assert not {"identifier", "subscriberId", "costToBeneficiary", "network"} & set(welfare)
    assert "end" not in welfare["period"]


def test_a_certificate_coverage_reads_back_at_its_full_url(clinic_api, holder):
    # given the Coverage of today's certificate from the eligibility search
    patient, today = holder
    pid = patient_id_for(clinic_api.institution.code, patient.person.pk)
    bundle = fhir_get(clinic_api, "Coverage", patient=pid).json()
    [welfare] = public_coverages(bundle)
    entry = next(e for e in bundle["entry"] if e["resource"] == welfare)
    before = AccessEvent.objects.filter(person=patient.person).count()

    # when it is read by id
    response = fhir_get(clinic_api, f"Coverage/{welfare['id']}")

    # then it is the same resource, read under the qualification item and logged once
    assert entry["fullUrl"].endswith(f"/Coverage/{welfare['id']}")
    assert response.status_code == 200 and response.json() == welfare
    [row] = AccessEvent.objects.filter(person=patient.person).order_by("seq")[before:]
    assert row.items == ["qualification"] and row.detail["read"] == "fhir_coverage"


def test_a_certificate_no_longer_valid_reads_as_cancelled(clinic_api, holder):
    # given the Coverage of the 難病 certificate, listed yesterday, its last valid day
    patient, today = holder
    pid = patient_id_for(clinic_api.institution.code, patient.person.pk)
    bundle = fhir_get(clinic_api, "Coverage", patient=pid, on=(today - DAY).isoformat()).json()
    nanbyou = next(c for c in public_coverages(bundle) if from_fhir(c)[0] == "54")

    # when it is read today
    read = fhir_get(clinic_api, f"Coverage/{nanbyou['id']}").json()

    # then it is the same certificate, no longer in force
    assert nanbyou["status"] == "active" and read["status"] == "cancelled"
    assert from_fhir(read) == from_fhir(nanbyou)


def test_the_consent_rules_are_those_of_qualification(
    clinic_api, other_api, holder, make_patient, other_clinic
):
    # given the holder's certificate Coverage id, and a second holder who consented elsewhere only
    patient, today = holder
    pid = patient_id_for(clinic_api.institution.code, patient.person.pk)
    [welfare] = public_coverages(fhir_get(clinic_api, "Coverage", patient=pid).json())
    other = make_patient()
    register_consent(other, other_clinic, "home_visit", ["medication"])
    certificate = patient.person.public_expense_certificates.get(programme="12")
    certificate.pk, certificate.person = None, other.person
    certificate.save()
    other_pid = patient_id_for(clinic_api.institution.code, other.person.pk)
    elsewhere = patient_id_for(other_api.institution.code, patient.person.pk)
    unknown = fhir_get(clinic_api, "Coverage/doesnotexist")

    # when the certificates are asked for without a consent in force here
    refused = [
        fhir_get(clinic_api, "Coverage", patient=other_pid),
        fhir_get(clinic_api, f"Coverage/{fhir.record_id(other_pid, 'public_expense', certificate.pk)}"),
        fhir_get(other_api, "Coverage", patient=elsewhere),
        fhir_get(other_api, f"Coverage/{welfare['id']}"),
    ]

    # then each is the one 404, as for an unknown id
    assert [(r.status_code, r.json()) for r in refused] == [(404, unknown.json())] * len(refused)
    assert not AccessEvent.objects.filter(
        person=other.person, actor_type="institution_client", outcome="ok"
    ).exists()


def test_a_requery_as_fhir_carries_the_certificates_too(clinic_api, holder):
    # given the holder's insurance-card numbers
    patient, today = holder
    q = patient.person.qualifications.get()
    keys = {
        "insurer_number": q.insurer.number,
        "symbol": q.symbol,
        "number": q.number,
        "branch": q.branch,
        "birth_date": patient.person.birth_date.isoformat(),
    }

    # when the institution re-queries by them, as JSON and as FHIR
    as_json = clinic_api.post("/api/v1/requery", keys).json()
    bundle = clinic_api.http.post(
        "/api/v1/requery",
        keys,
        content_type="application/json",
        HTTP_ACCEPT=fhir.FHIR_MEDIA_TYPE,
        HTTP_AUTHORIZATION=f"Bearer {clinic_api.token}",
    ).json()

    # then both list today's certificate
    assert [from_fhir(c) for c in public_coverages(bundle)] == [
        from_json(c) for c in as_json["public_expense_certificate_list"]
    ]
    assert len(public_coverages(bundle)) == 1
