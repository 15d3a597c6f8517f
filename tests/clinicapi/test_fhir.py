"""FHIR output checked by an independent model library (fhir.resources, R4B models) on seeded data."""

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent as FhirConsent
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient

from clinicapi import fhir
from clinicapi.patients import patient_id_for
from homeconsent.audit.services import record_access
from homeconsent.consent.models import Consent
from homeconsent.registry.eligibility import resolve_for_person
from homeconsent.registry.models import (
    CheckupResult,
    ElderlyCertificate,
    Institution,
    MedicationRecord,
    Person,
    Qualification,
)
from homeconsent.registry.seeding import seed_demo_persons, seed_registry

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 6, 1)
CODE = "0110113719"


def pid(person_or_id):
    return patient_id_for(CODE, getattr(person_or_id, "pk", person_or_id))


@pytest.fixture
def registry():
    seed_registry(20, seed=3, as_of=AS_OF)
    seed_demo_persons(as_of=AS_OF)


def validated(model, resource):
    """Round-trip through the R4B model: raises on any structural error; returns the model's JSON."""
    text = json.dumps(resource, ensure_ascii=False)
    return json.loads(model.model_validate_json(text).model_dump_json())


def test_patient_has_kanji_and_kana_names_the_jp_core_way(registry):
    person = Person.objects.get(name="山田 太郎")

    resource = validated(Patient, fhir.patient(person, pid(person)))

    by_representation = {n["extension"][0]["valueCode"]: n for n in resource["name"]}
    assert by_representation["IDE"]["family"] == "山田" and by_representation["IDE"]["given"] == ["太郎"]
    assert by_representation["SYL"]["text"] == "ヤマダ タロウ"
    assert resource["gender"] == "male"
    assert resource["birthDate"] == person.birth_date.isoformat()


def test_coverage_carries_member_id_extensions_payor_and_copay(registry):
    q = Qualification.objects.select_related("person", "insurer").get(person__name="山田 花子")

    resource = validated(Coverage, fhir.coverage(q, pid(q.person_id), on=AS_OF))

    assert resource["identifier"][0] == {
        "system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID",
        "value": f"{q.insurer.number.zfill(8)}:{q.symbol}:{q.number}:01",
        "assigner": {"reference": "#insurer"},
    }
    ext = {e["url"].rsplit("_", 1)[1]: e["valueString"] for e in resource["extension"]}
    assert ext == {
        "InsuredPersonSymbol": q.symbol,
        "InsuredPersonNumber": q.number,
        "InsuredPersonSubNumber": "01",
    }
    payor = resource["contained"][0]
    assert payor["identifier"] == [
        {
            "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber",
            "value": q.insurer.number.zfill(8),
        }
    ]
    assert resource["relationship"]["coding"][0]["code"] == "2"  # 家族 → 被扶養者
    assert resource["costToBeneficiary"][0]["valueQuantity"]["value"] == 30
    assert resource["status"] == "active" and resource["dependent"] == "01"


def test_coverage_of_a_lost_qualification_ends_the_day_before_the_loss(registry):
    q = Qualification.objects.select_related("person", "insurer").get(person__name="渡辺 実")

    resource = validated(Coverage, fhir.coverage(q, pid(q.person_id), on=AS_OF))

    assert resource["status"] == "cancelled"
    assert resource["period"]["end"] == (q.lost_on - timedelta(days=1)).isoformat()


def test_coverage_for_eligibility_uses_the_elderly_ratio_and_kouki_category(registry):
    sato = Person.objects.get(name="佐藤 幸子")
    suzuki = Person.objects.get(name="鈴木 一郎")
    assert ElderlyCertificate.objects.filter(qualification__person=sato).exists()

    elderly = validated(Coverage, fhir.coverage_for_eligibility(resolve_for_person(sato, AS_OF), pid(sato)))
    kouki = validated(Coverage, fhir.coverage_for_eligibility(resolve_for_person(suzuki, AS_OF), pid(suzuki)))

    assert elderly["costToBeneficiary"][0]["valueQuantity"]["value"] == 20
    assert "高齢受給者証" in elderly["costToBeneficiary"][0]["type"]["text"]
    assert kouki["type"]["coding"][0] == {
        "system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/InsuranceMajorCategory",
        "code": "7",
        "display": "後期高齢者",
    }
    assert kouki["costToBeneficiary"][0]["valueQuantity"]["value"] == 10


def test_institution_organization_splits_the_code_into_jp_core_extensions(registry):
    institution = Institution.objects.order_by("code").first()

    resource = validated(Organization, fhir.institution_organization(institution))

    assert resource["identifier"][0]["value"] == institution.code
    # JP Core 1.2.0: prefecture and 点数表 as valueCoding, the 7-digit number as valueIdentifier
    prefecture, category, number = resource["extension"]
    assert prefecture["valueCoding"] == {
        "system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/PrefectureNo-2digits",
        "code": institution.code[:2],
    }
    assert category["valueCoding"] == {
        "system": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationFeeScoreType",
        "code": institution.code[2],
    }
    assert number["valueIdentifier"] == {
        "system": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicalOrganizationID",
        "value": institution.code[3:],
    }


def test_medication_dispense_has_receipt_and_yj_codes(registry):
    record = MedicationRecord.objects.select_related("dispensing_institution").exclude(yj_code="").first()

    resource = validated(MedicationDispense, fhir.medication_dispense(record, pid(record.person_id)))

    systems = {c["system"]: c["code"] for c in resource["medicationCodeableConcept"]["coding"]}
    assert systems == {
        "urn:oid:1.2.392.100495.20.2.71": record.drug_code,
        "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code": record.yj_code,
    }
    assert resource["daysSupply"]["value"] == record.days
    assert resource["whenHandedOver"] == record.dispensed_on.isoformat()
    assert float(resource["quantity"]["value"]) == float(record.quantity)


def test_every_seeded_medication_validates(registry):
    records = MedicationRecord.objects.select_related("dispensing_institution", "prescribing_institution")[
        :300
    ]
    assert records
    for record in records:
        validated(MedicationDispense, fhir.medication_dispense(record, pid(record.person_id)))


def test_checkup_observations_are_quantities_when_numeric_else_strings(registry):
    results = list(CheckupResult.objects.all()[:400])
    numeric = [r for r in results if r.unit]
    textual = [r for r in results if not r.unit]
    assert numeric and textual

    for r in results:
        resource = validated(Observation, fhir.observation(r, pid(r.person_id)))
        assert resource["code"]["coding"][0] == {
            "system": "urn:oid:1.2.392.200119.6.1005",
            "code": r.item_code,
            "display": r.item_name,
        }
        assert len(r.item_code) == 17
        assert resource["effectiveDateTime"] == r.checked_on.isoformat()
    hba1c = next((r for r in numeric if r.unit == "%"), numeric[0])
    quantity = validated(Observation, fhir.observation(hba1c, pid(hba1c.person_id)))["valueQuantity"]
    assert (
        float(quantity["value"]) == float(hba1c.value) and quantity["system"] == "http://unitsofmeasure.org"
    )
    assert "valueString" in validated(Observation, fhir.observation(textual[0], pid(textual[0].person_id)))


def make_consent(person, institution, **fields):
    return Consent.objects.create(
        person=person,
        institution=institution,
        kind=fields.pop("kind", "home_visit"),
        items=fields.pop("items", ["checkup", "medication", "qualification"]),
        given_at=fields.pop("given_at", datetime(2026, 5, 20, 1, 30, tzinfo=UTC)),
        **fields,
    )


def test_consent_lists_items_and_institution_and_reads_inactive_once_cancelled(registry):
    person = Person.objects.get(name="鈴木 一郎")
    institution = Institution.objects.filter(code__startswith="131").first()
    given = make_consent(person, institution)

    active = validated(FhirConsent, fhir.consent(given, pid(person)))
    given.status, given.ended_at, given.ended_by = "cancelled", datetime(2026, 5, 30, tzinfo=UTC), "patient"
    given.save()
    cancelled = validated(FhirConsent, fhir.consent(given, pid(person)))

    assert active["status"] == "active" and cancelled["status"] == "inactive"
    assert active["organization"][0]["identifier"] == {
        "system": "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no",
        "value": institution.code,
    }
    assert active["organization"][0]["reference"] == f"Organization/institution-{institution.code}"
    assert active["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Consent"]
    # each consented item is a provision of its own, nested in the permit to the institution
    items = [p["code"][0]["coding"][0]["code"] for p in active["provision"]["provision"]]
    assert items == ["checkup", "medication", "qualification"]
    assert {p["type"] for p in active["provision"]["provision"]} == {"permit"}
    assert active["patient"] == {"reference": f"Patient/{fhir.fhir_id(pid(person))}"}
    assert cancelled["provision"]["period"]["end"].startswith("2026-05-30")


def test_telehealth_consent_carries_the_visit_date(registry):
    person = Person.objects.get(name="山田 太郎")
    institution = Institution.objects.first()
    given = make_consent(
        person,
        institution,
        kind="telehealth",
        items=["qualification"],
        visit_date=date(2026, 5, 21),
        available_until=datetime(2026, 5, 21, 15, tzinfo=UTC),
    )

    resource = validated(FhirConsent, fhir.consent(given, pid(person), now=datetime(2026, 5, 22, tzinfo=UTC)))

    assert resource["provision"]["dataPeriod"] == {"start": "2026-05-21", "end": "2026-05-21"}
    assert resource["status"] == "inactive"  # past available_until: expired


def test_audit_event_of_an_access_log_row(registry):
    person = Person.objects.get(name="山田 太郎")
    event = record_access(
        actor_type="institution_client",
        actor_id="client-1",
        person=person,
        items=["medication"],
        basis="consent",
        institution_code="0110113719",
        consent_id=7,
    )

    resource = validated(AuditEvent, fhir.audit_event(event, pid(person)))

    assert resource["agent"][0]["who"]["identifier"]["value"] == "0110113719"
    assert resource["entity"][0]["what"] == {"reference": f"Patient/{fhir.fhir_id(pid(person))}"}
    assert resource["entity"][1]["what"] == {
        "reference": f"Consent/{fhir.record_id(pid(person), 'consent', 7)}"
    }
    assert resource["outcome"] == "0"


def test_searchset_bundle_of_mixed_resources_validates(registry):
    person = Person.objects.get(name="山田 太郎")
    results = [fhir.observation(r, pid(r.person_id)) for r in CheckupResult.objects.filter(person=person)]
    assert results

    bundle = validated(
        Bundle,
        fhir.searchset(
            results, base_url="https://hc.example/api/v1/fhir/", included=[fhir.patient(person, pid(person))]
        ),
    )

    assert bundle["total"] == len(results)
    assert bundle["entry"][-1]["search"]["mode"] == "include"
    assert bundle["entry"][0]["fullUrl"].startswith("https://hc.example/api/v1/fhir/Observation/")


def test_patient_ids_are_fhir_ids_as_they_stand(registry):
    # given every seeded person's id at this institution
    persons = list(Person.objects.all())

    # then each is a valid FHIR id unchanged, and the Patient resource carries it as id and identifier
    assert all(re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", pid(p)) for p in persons)
    person = persons[0]
    resource = validated(Patient, fhir.patient(person, pid(person)))
    assert resource["id"] == pid(person)
    assert resource["identifier"] == [{"system": "urn:homeconsent:patient-id", "value": pid(person)}]


# --- served over HTTP: Accept: application/fhir+json on the data endpoints -----------------------------
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def api(registry, client, settings):
    from django.core.cache import cache

    from clinicapi.auth import do_issue_access_token, do_register_client
    from clinicapi.client.core import generate_key, public_jwk

    cache.clear()
    institution = Institution.objects.create(code=CODE, name="札幌在宅クリニック")
    scopes = ["qualification.read", "consent.read", "medication.read", "treatment.read", "checkup.read"]
    api_client = do_register_client(institution, "EHR", {"keys": [public_jwk(generate_key("ES256"))]}, scopes)
    token, _ = do_issue_access_token(api_client, scopes)

    def get(path, accept=FHIR_JSON, **params):
        return client.get("/api/v1/" + path, params, HTTP_ACCEPT=accept, HTTP_AUTHORIZATION=f"Bearer {token}")

    get.institution = institution
    yield get
    cache.clear()


def consented(api, name, **fields):
    person = Person.objects.get(name=name)
    make_consent(
        person,
        api.institution,
        given_at=datetime.now(UTC) - timedelta(hours=1),
        items=["checkup", "medication", "qualification", "treatment"],
        **fields,
    )
    return person


def test_eligibility_answers_a_coverage_bundle_when_fhir_is_asked(api):
    person = consented(api, "鈴木 一郎")

    response = api(f"patients/{pid(person)}/eligibility")
    plain = api(f"patients/{pid(person)}/eligibility", accept="application/json")

    assert response.status_code == 200 and response["Content-Type"].startswith(FHIR_JSON)
    bundle = validated(Bundle, response.json())
    kinds = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]]
    assert kinds == [("Coverage", "match"), ("Patient", "include")]
    coverage = bundle["entry"][0]["resource"]
    assert coverage["beneficiary"]["reference"] == f"Patient/{fhir.fhir_id(pid(person))}"
    assert (
        plain.json()["qualification"]["insurer_number"] == coverage["contained"][0]["identifier"][0]["value"]
    )


def test_consented_patients_as_patients_with_their_consents(api):
    person = consented(api, "山田 太郎")

    bundle = validated(Bundle, api("patients").json())

    assert bundle["total"] == 1
    [patient, consent] = [e["resource"] for e in bundle["entry"]]
    assert patient["resourceType"] == "Patient" and patient["identifier"][0]["value"] == pid(person)
    assert consent["resourceType"] == "Consent" and consent["status"] == "active"


def test_medical_reads_as_fhir_have_one_resource_per_record(api):
    latest = MedicationRecord.objects.filter(dispensed_on__lte=date.today()).order_by("-dispensed_on").first()
    person = latest.person
    make_consent(
        person,
        api.institution,
        given_at=datetime.now(UTC) - timedelta(hours=1),
        items=["checkup", "medication", "qualification", "treatment"],
    )
    month = latest.dispensed_on.strftime("%Y-%m")

    medication = validated(Bundle, api(f"patients/{pid(person)}/medication", month_from=month).json())
    plain = api(f"patients/{pid(person)}/medication", accept="application/json", month_from=month).json()
    checkups = validated(Bundle, api(f"patients/{pid(person)}/checkups").json())
    treatment = validated(Bundle, api(f"patients/{pid(person)}/treatment").json())

    assert medication["total"] == plain["count"] >= 1
    assert {e["resource"]["resourceType"] for e in medication["entry"]} == {"MedicationDispense"}
    assert all(e["resource"]["resourceType"] == "Observation" for e in checkups.get("entry", []))
    assert all(e["resource"]["resourceType"] == "Procedure" for e in treatment.get("entry", []))


def test_a_refusal_asked_as_fhir_is_an_operation_outcome(api):
    stranger = Person.objects.get(name="佐藤 幸子")  # no consent at this institution

    response = api(f"patients/{pid(stranger)}/eligibility")

    assert response.status_code == 404 and response["Content-Type"].startswith(FHIR_JSON)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "not_found"


def test_record_ids_differ_between_institutions_so_they_cannot_link_a_patient(registry):
    record = MedicationRecord.objects.first()
    here = fhir.medication_dispense(record, patient_id_for(CODE, record.person_id))
    there = fhir.medication_dispense(record, patient_id_for("1310000017", record.person_id))

    assert here["id"] != there["id"] and str(record.pk) not in (here["id"], there["id"])
    assert (
        here["id"] == fhir.medication_dispense(record, patient_id_for(CODE, record.person_id))["id"]
    )  # stable


def test_a_further_page_of_patients_is_linked_as_next(api):
    consented(api, "山田 太郎")
    consented(api, "鈴木 一郎")

    first = validated(Bundle, api("patients", page_size=1).json())
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = validated(
        Bundle,
        api(
            next_url.split("/api/v1/", 1)[1].split("?")[0],
            **dict(p.split("=", 1) for p in next_url.split("?", 1)[1].split("&")),
        ).json(),
    )

    assert first["total"] == second["total"] == 2  # across pages, not this page's count
    assert "page_size=1" in next_url and "cursor=" in next_url
    assert first["entry"][0]["resource"]["id"] != second["entry"][0]["resource"]["id"]
    assert not any(link["relation"] == "next" for link in second["link"])


def test_the_fhir_path_answers_fhir_whatever_the_accept_header_says(api):
    person = consented(api, "鈴木 一郎")
    stranger = Person.objects.get(name="佐藤 幸子")

    by_path = api(f"fhir/patients/{pid(person)}/eligibility", accept="application/json")
    listed = api("fhir/patients", accept="application/json")
    by_header = api(f"patients/{pid(person)}/eligibility")
    refused = api(f"fhir/patients/{pid(stranger)}/eligibility", accept="application/json")

    assert by_path.status_code == 200 and by_path["Content-Type"].startswith(FHIR_JSON)
    bundle = validated(Bundle, by_path.json())
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Coverage", "Patient"]
    assert {k: v for k, v in bundle.items() if k != "link"} == {
        k: v for k, v in by_header.json().items() if k != "link"
    }
    assert validated(Bundle, listed.json())["total"] == 1
    assert refused.status_code == 404 and refused.json()["resourceType"] == "OperationOutcome"


def test_record_ids_are_keyed_by_the_servers_secret(settings):
    # given the same patient id and row under two server secrets
    patient_id = "a" * 26
    settings.CLINICAPI_PATIENT_ID_KEY = "one secret"
    first = fhir.record_id(patient_id, "coverage", 1)
    settings.CLINICAPI_PATIENT_ID_KEY = "another secret"
    second = fhir.record_id(patient_id, "coverage", 1)

    # then the ids differ: knowing the patient id and a row number is not enough to make one up
    assert first != second
    assert first.startswith(patient_id + "-") and fhir.patient_id_of_record(first) == patient_id
    assert re.fullmatch(r"[a-z2-7]{26}-[a-z2-7]{16}", first)
