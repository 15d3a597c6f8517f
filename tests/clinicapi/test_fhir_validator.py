"""Every resource type the FHIR API serves, fetched over HTTP and checked by tools this project did
not write (tests/fhir_validator/, installed by bin/setup --test with npm ci):

- FHIR.js (npm "fhir") validates each against the R4 definitions (element names, types,
  cardinality, required bindings), nested Bundle entries and contained resources included;
- fhirpath.js (npm "fhirpath", HL7 FHIRPath on the R4 model) evaluates the rules of the JP Core
  1.2.0 profiles each resource claims (jp-core-1.2.0-rules.json, each rule citing its JP Core source).

HAPI FHIR's validator and the compiled JP Core package cannot be fetched here (docs/fhir.md,
"Validation"), so these are the independent checks the suite can run."""

import json
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from clinicapi import fhir
from clinicapi.patients import patient_id_for
from homeconsent.audit.services import record_access
from homeconsent.consent.models import Consent
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import (
    CheckupResult,
    Institution,
    Insurer,
    MedicationRecord,
    Person,
    PublicExpenseCertificate,
    TreatmentRecord,
)
from homeconsent.registry.seeding import seed_demo_persons, seed_registry

pytestmark = [pytest.mark.django_db, pytest.mark.fhir_validator]

VALIDATOR = Path(__file__).resolve().parents[1] / "fhir_validator"
CODE = "0110113719"


def validate(resources: list[dict]) -> list[dict]:
    """FHIR.js's findings per resource: [{"resourceType", "id", "valid", "messages"}]."""
    node = shutil.which("node")
    assert node, "node is needed for the FHIR validator (Debian package nodejs)"
    assert (VALIDATOR / "node_modules" / "fhir").is_dir(), (
        "run bin/setup --test to install the FHIR validator"
    )
    done = subprocess.run(
        [node, str(VALIDATOR / "validate.js")],
        input=json.dumps(resources),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def jp_core_rules(resources: list[dict]) -> dict:
    """JP Core 1.2.0's rules (tests/fhir_validator/jp-core-1.2.0-rules.json, FHIRPath) evaluated by
    fhirpath.js: {"failures": [...], "checked": {profile: resources checked}}."""
    node = shutil.which("node")
    assert node and (VALIDATOR / "node_modules" / "fhirpath").is_dir(), "run bin/setup --test"
    done = subprocess.run(
        [node, str(VALIDATOR / "jp-core-rules.js")],
        input=json.dumps(resources),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def findings(results) -> list[tuple]:
    return [
        (r["resourceType"], r["id"], m["severity"], m["location"], m["message"])
        for r in results
        for m in r["messages"]
    ]


# FHIR.js reports a code outside a *non-required* binding (example, preferred, extensible) as a warning
# and a value set it does not ship as info: national codes (YJ, JLAC10, 診療行為, 保険種別) are outside
# the R4 examples by design. An error or fatal finding, or any other warning (an unexpected element,
# say), is a problem.
NON_REQUIRED_BINDING = re.compile(
    r'^Code ".*" \(.*\) not found in value set$|^Value set ".*" could not be found\.$'
)


def problems(results) -> list[tuple]:
    return [
        f for f in findings(results) if f[2] in ("error", "fatal") or not NON_REQUIRED_BINDING.match(f[4])
    ]


@pytest.fixture
def served(client):
    """One of each resource the API serves, as the API serves it."""
    from django.core.cache import cache

    from clinicapi.auth import do_issue_access_token, do_register_client
    from clinicapi.client.core import generate_key, public_jwk

    cache.clear()
    seed_registry(20, seed=3)
    seed_demo_persons()
    institution = Institution.objects.create(code=CODE, name="札幌在宅クリニック")
    scopes = ["qualification.read", "consent.read", "medication.read", "treatment.read", "checkup.read"]
    api_client = do_register_client(institution, "EHR", {"keys": [public_jwk(generate_key("ES256"))]}, scopes)
    token, _ = do_issue_access_token(api_client, scopes)
    today = date.today()
    people = {
        MedicationRecord.objects.filter(dispensed_on__lte=today).order_by("-dispensed_on").first().person,
        CheckupResult.objects.order_by("-checked_on").first().person,
        TreatmentRecord.objects.filter(treated_on__lte=today).order_by("-treated_on").first().person,
        Person.objects.get(name="佐藤 幸子"),  # 高齢受給者証
        Person.objects.get(name="鈴木 一郎"),  # 後期高齢者, 限度額
    }
    suzuki = Person.objects.get(name="鈴木 一郎")
    # 公費: one with every field (ceiling, designated institutions), one with the fewest (医療扶助)
    PublicExpenseCertificate.objects.create(
        person=suzuki,
        programme="54",
        payer_number=with_check_digit("5413001"),
        recipient_number=with_check_digit("123456"),
        valid_from=today - timedelta(days=30),
        valid_until=today + timedelta(days=300),
        monthly_self_pay_limit=10000,
        designated_institutions=CODE,
    )
    PublicExpenseCertificate.objects.create(
        person=suzuki, programme="12", payer_number=with_check_digit("1213001"), valid_from=today
    )
    for person in people:
        Consent.objects.create(
            person=person,
            institution=institution,
            kind="home_visit",
            items=["qualification", "limit_certificate", "medication", "treatment", "checkup"],
            given_at=datetime.now(UTC) - timedelta(hours=1),
        )

    def get(path, **params):
        response = client.get("/api/v1/fhir/" + path, params, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response["Content-Type"].startswith(fhir.FHIR_MEDIA_TYPE), path
        return response.json()

    answers = [get("metadata"), get("Patient", _revinclude="Consent:patient")]
    for person in sorted(people, key=lambda p: p.pk):
        pid = patient_id_for(CODE, person.pk)
        coverage = get("Coverage", patient=pid, _include="Coverage:beneficiary")
        answers += [
            coverage,
            get(f"Patient/{pid}"),
            get(
                "MedicationDispense",
                patient=pid,
                month_from=(today - timedelta(days=365)).strftime("%Y-%m"),
                _include="MedicationDispense:patient",
            ),
            get(
                "Observation",
                patient=pid,
                date_from=(today - timedelta(days=5 * 365)).isoformat(),
                _include="Observation:patient",
            ),
            get(
                "Procedure",
                patient=pid,
                date_from=(today - timedelta(days=365)).isoformat(),
                _include="Procedure:patient",
            ),
        ]
        answers += [
            get(f"Coverage/{e['resource']['id']}")
            for e in coverage.get("entry", [])
            if e["resource"]["resourceType"] == "Coverage"
        ]
        consent = Consent.objects.filter(person=person, institution=institution).first()
        answers.append(get(f"Consent/{fhir.consent_id(consent, pid)}"))
    # each medical resource type read back by id too
    for bundle in [a for a in answers if a["resourceType"] == "Bundle"]:
        for entry in bundle.get("entry", []):
            kind = entry["resource"]["resourceType"]
            if kind in ("MedicationDispense", "Observation", "Procedure"):
                answers.append(get(f"{kind}/{entry['resource']['id']}"))
                break
    insurer = Insurer.objects.filter(number__regex=r"^\d{6}$").first()
    answers += [
        get(f"Organization/institution-{CODE}"),
        get(f"Organization/insurer-{insurer.number.zfill(8)}"),
        get("Patient/unknown"),
        get("MedicationDispense"),
    ]  # the 404 and the 400 as OperationOutcomes
    yield answers
    cache.clear()


def test_every_served_resource_type_validates_with_zero_findings(served):
    types = {a["resourceType"] for a in served}
    entries = {
        e["resource"]["resourceType"] for a in served if a["resourceType"] == "Bundle" for e in a["entry"]
    }
    assert types == {
        "CapabilityStatement",
        "Bundle",
        "Patient",
        "Coverage",
        "Consent",
        "Organization",
        "MedicationDispense",
        "Observation",
        "Procedure",
        "OperationOutcome",
    }
    assert entries >= {"Patient", "Consent", "Coverage", "MedicationDispense", "Observation", "Procedure"}
    public = [
        a
        for a in served
        if a["resourceType"] == "Coverage" and a["type"]["coding"][0]["code"] == fhir.PUBLIC_EXPENSE
    ]
    assert len(public) == 2  # the 公費 Coverages, read back by id

    results = validate(served)

    assert len(results) == len(served)
    assert problems(results) == []


def test_audit_events_validate_too(served):
    person = Person.objects.get(name="山田 太郎")
    event = record_access(
        actor_type="institution_client",
        actor_id="client-1",
        person=person,
        items=["medication"],
        basis="consent",
        institution_code=CODE,
        consent_id=7,
    )

    results = validate([fhir.audit_event(event, patient_id_for(CODE, person.pk))])

    assert problems(results) == []


def test_the_validator_finds_what_is_wrong():
    # given resources with the kinds of faults this API once had or could have
    wrong = [
        {"resourceType": "Patient", "id": "x", "gender": "man"},
        {
            "resourceType": "Coverage",
            "id": "x",
            "status": "active",
            "beneficiary": {"reference": "Patient/x"},
        },
        {"resourceType": "Organization", "id": "x", "extension": [{"url": "u", "valueIdentifier": "text"}]},
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": "Patient", "nam": []}}],
        },
    ]

    # then each is found: a code outside a required value set, a missing payor, a wrong type, an
    # unknown element
    flagged = {(f[0], f[3]) for f in findings(validate(wrong))}
    assert ("Patient", "Patient.gender") in flagged
    assert ("Coverage", "Coverage") in flagged or any(f[0] == "Coverage" for f in flagged)
    assert any(f[0] == "Organization" for f in flagged)
    assert any(f[0] == "Bundle" and "nam" in f[1] for f in flagged)


def test_every_served_resource_keeps_the_jp_core_rules_of_the_profile_it_claims(served):
    outcome = jp_core_rules(served)

    assert outcome["failures"] == []
    # every claimed profile with rules was met at least once, each resource checked against all its rules
    assert set(outcome["checked"]) >= {
        "JP_Patient",
        "JP_Coverage",
        "JP_Organization",
        "JP_MedicationDispense",
        "JP_Observation_Common",
        "*",
    }


def test_the_jp_core_rules_catch_what_this_api_once_served():
    # given resources as the API wrote them before JP Core 1.2.0 was followed
    jp = "http://jpfhir.jp/fhir/core/StructureDefinition/"
    old = [
        {
            "resourceType": "Coverage",
            "id": "c",
            "meta": {"profile": [jp + "JP_Coverage"]},
            "identifier": [
                {
                    "system": "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID",
                    "value": "130013:a:1:",
                }
            ],
            "status": "active",
            "beneficiary": {"reference": "Patient/p"},
            "payor": [{"reference": "#insurer"}],
        },
        {
            "resourceType": "Organization",
            "id": "o",
            "meta": {"profile": [jp + "JP_Organization"]},
            "extension": [
                {
                    "url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Organization_PrefectureNo",
                    "valueIdentifier": {"system": "urn:oid:1.2.392.100495.20.3.21", "value": "13"},
                }
            ],
        },
        {
            "resourceType": "Observation",
            "id": "b",
            "meta": {"profile": [jp + "JP_Observation_Common"]},
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "exam",
                        }
                    ]
                }
            ],
            "code": {"text": "BMI"},
        },
        {
            "resourceType": "MedicationDispense",
            "id": "m",
            "meta": {"profile": [jp + "JP_MedicationDispense"]},
            "status": "completed",
            "medicationCodeableConcept": {"text": "x"},
            "subject": {"reference": "Patient/p"},
            "quantity": {"value": 1, "unit": "錠"},
            "whenHandedOver": "2026-01-01",
        },
    ]

    # then each fault is named with its JP Core source
    failed = {(f["resourceType"], f["source"].split(":")[0]) for f in jp_core_rules(old)["failures"]}
    assert ("Coverage", "intro-notes/StructureDefinition-jp-coverage-notes.md") in failed  # 6-digit insurer
    assert ("Organization", "profiles/JP_Organization.fsh") in failed  # valueIdentifier for a Coding
    assert ("Observation", "profiles/JP_Observation_Common.fsh") in failed  # no JP Core category
    assert ("MedicationDispense", "profiles/JP_MedicationDispense.fsh") in failed  # no Rp, uncoded quantity


def test_the_jp_core_rules_catch_a_public_expense_coverage_paid_by_an_insurer_without_a_period():
    # given a 公費 Coverage whose payor is identified as an insurer, and which gives no validity
    jp = "http://jpfhir.jp/fhir/core/StructureDefinition/"
    wrong = {
        "resourceType": "Coverage",
        "id": "p",
        "meta": {"profile": [jp + "JP_Coverage"]},
        "contained": [
            {
                "resourceType": "Organization",
                "id": "payer",
                "identifier": [{"system": fhir.SYSTEM_INSURER_NUMBER, "value": "21130018"}],
            }
        ],
        "status": "active",
        "type": {"coding": [{"system": fhir.SYSTEM_INSURANCE_CATEGORY, "code": fhir.PUBLIC_EXPENSE}]},
        "beneficiary": {"reference": "Patient/x"},
        "payor": [{"reference": "#payer"}],
    }

    # then both JP Core rules for public payers name it
    failed = [f["source"] for f in jp_core_rules([wrong])["failures"]]
    assert [s.split(" ", 2)[1] for s in failed] == ["payor", "period"]
