"""The FHIR R4 REST API under /api/v1/fhir/: conformance, reads of every referenced resource (consent-
checked, access-logged, one indistinguishable 404), searches with _include, fullUrl, total and links."""

from datetime import UTC, date, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.consent import Consent as FhirConsent
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient

from clinicapi import fhir
from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from homeconsent.consent.models import Consent
from homeconsent.registry.models import CheckupResult, Institution, Insurer, MedicationRecord, Person
from homeconsent.registry.seeding import seed_demo_persons, seed_registry

pytestmark = pytest.mark.django_db

CODE = "0110113719"
FHIR_JSON = "application/fhir+json"
BASE = "http://testserver/api/v1/fhir/"
JP_CORE = "http://jpfhir.jp/fhir/core/StructureDefinition/"


def pid(person):
    return patient_id_for(CODE, getattr(person, "pk", person))


def validated(model, data):
    return model.model_validate(data).model_dump(mode="json")


@pytest.fixture
def api(client, settings):
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

    def get(path, accept=FHIR_JSON, **params):
        url = path if path.startswith("/") else "/api/v1/fhir/" + path
        return client.get(url, params, HTTP_ACCEPT=accept, HTTP_AUTHORIZATION=f"Bearer {token}")

    get.institution = institution
    get.client = client
    yield get
    cache.clear()


def consented(api, person, **fields):
    if isinstance(person, str):
        person = Person.objects.get(name=person)
    Consent.objects.create(
        person=person,
        institution=api.institution,
        kind=fields.pop("kind", "home_visit"),
        items=fields.pop("items", ["checkup", "medication", "qualification", "treatment"]),
        given_at=fields.pop("given_at", datetime.now(UTC) - timedelta(hours=1)),
        **fields,
    )
    return person


def log_rows(person, **filters):
    # In append order (one person's rows are one chain): slices like [before:] take the newest rows.
    return AccessEvent.objects.filter(person_id=person.pk, institution_code=CODE, **filters).order_by("seq")


# --- 1. conformance --------------------------------------------------------------------------------
def test_metadata_is_an_r4_capability_statement_served_without_a_token(client):
    response = client.get("/api/v1/fhir/metadata")

    assert response.status_code == 200 and response["Content-Type"].startswith(FHIR_JSON)
    statement = validated(CapabilityStatement, response.json())
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    assert FHIR_JSON in statement["format"]
    [rest] = statement["rest"]
    served = {r["type"]: r for r in rest["resource"]}
    assert set(served) == {
        "Patient",
        "Coverage",
        "Consent",
        "Organization",
        "MedicationDispense",
        "Observation",
        "Procedure",
    }
    assert served["Patient"]["profile"] == JP_CORE + "JP_Patient"
    assert {i["code"] for i in served["Coverage"]["interaction"]} == {"read", "search-type"}
    assert served["MedicationDispense"]["searchInclude"] == [
        "MedicationDispense:patient",
        "MedicationDispense:subject",
    ]
    assert "patient" in {p["name"] for p in served["Observation"]["searchParam"]}
    assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    [uris] = rest["security"]["extension"]
    assert uris["extension"] == [{"url": "token", "valueUri": "http://testserver/api/v1/auth/token"}]


def test_smart_configuration_names_the_backend_services_token_endpoint(client):
    response = client.get("/api/v1/fhir/.well-known/smart-configuration")

    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    config = response.json()
    assert config["token_endpoint"] == "http://testserver/api/v1/auth/token"
    assert config["grant_types_supported"] == ["client_credentials"]
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "ES384" in config["token_endpoint_auth_signing_alg_values_supported"]
    assert "medication.read" in config["scopes_supported"]


# --- 2. reads ------------------------------------------------------------------------------------
def test_patient_read_is_a_jp_core_patient_and_is_access_logged(api):
    person = consented(api, "山田 太郎")
    before = log_rows(person).count()

    response = api(f"Patient/{pid(person)}")

    assert response.status_code == 200 and response["Content-Type"].startswith(FHIR_JSON)
    patient = validated(Patient, response.json())
    assert patient["meta"]["profile"] == [JP_CORE + "JP_Patient"]
    names = {n["extension"][0]["valueCode"]: n for n in patient["name"]}
    assert names["IDE"]["text"] == "山田 太郎" and names["SYL"]["text"] == "ヤマダ タロウ"
    assert {n["extension"][0]["url"] for n in patient["name"]} == {fhir.EXT_NAME_REPRESENTATION}
    assert patient["birthDate"] == person.birth_date.isoformat() and patient["gender"] == "male"
    [row] = log_rows(person)[before:]
    assert row.items == ["consent"] and row.detail["read"] == "fhir_patient" and row.outcome == "ok"


def test_coverage_read_answers_the_resource_the_eligibility_search_returned(api):
    person = consented(api, "鈴木 一郎")
    searched = api("Coverage", patient=pid(person), _include="Coverage:beneficiary").json()
    coverage = searched["entry"][0]["resource"]
    before = log_rows(person).count()

    response = api(f"Coverage/{coverage['id']}")

    assert response.status_code == 200
    assert validated(Coverage, response.json()) == validated(Coverage, coverage)
    assert coverage["beneficiary"]["reference"] == f"Patient/{pid(person)}"
    assert [e["resource"]["resourceType"] for e in searched["entry"]] == ["Coverage", "Patient"]
    [row] = log_rows(person)[before:]
    assert row.items == ["qualification"] and row.detail["read"] == "fhir_coverage"


def test_consent_read_answers_the_consent_a_patient_search_included(api):
    person = consented(api, "山田 太郎")
    searched = api("Patient", _revinclude="Consent:patient").json()
    consent = next(e["resource"] for e in searched["entry"] if e["resource"]["resourceType"] == "Consent")

    response = api(f"Consent/{consent['id']}")

    assert response.status_code == 200
    read = validated(FhirConsent, response.json())
    assert read == validated(FhirConsent, consent)
    assert read["patient"]["reference"] == f"Patient/{pid(person)}"
    assert read["organization"][0]["reference"] == f"Organization/institution-{CODE}"


def test_organization_reads_of_the_institution_and_an_insurer_with_eight_digits(api):
    kokuho = Insurer.objects.filter(number__regex=r"^\d{6}$").first()
    assert kokuho is not None, "the seeded registry has a 6-digit 国保 insurer"

    institution = validated(Organization, api(f"Organization/institution-{CODE}").json())
    insurer = validated(Organization, api(f"Organization/insurer-{kokuho.number.zfill(8)}").json())
    unpadded = api(f"Organization/insurer-{kokuho.number}")

    assert institution["identifier"][0]["value"] == CODE
    assert [set(e) - {"url"} for e in institution["extension"]] == [
        {"valueCoding"},
        {"valueCoding"},
        {"valueIdentifier"},
    ]
    assert insurer["identifier"] == [{"system": fhir.SYSTEM_INSURER_NUMBER, "value": "00" + kokuho.number}]
    assert unpadded.status_code == 404


def test_coverage_of_a_six_digit_kokuho_insurer_says_eight_digits(api):
    from homeconsent.registry.models import Qualification

    q = (
        Qualification.objects.filter(insurer__number__regex=r"^\d{6}$")
        .select_related("insurer", "person")
        .first()
    )
    resource = fhir.coverage(q, pid(q.person_id))

    padded = "00" + q.insurer.number
    assert resource["contained"][0]["identifier"][0]["value"] == padded
    assert resource["identifier"][0]["value"].startswith(padded + ":")


def test_refused_reads_answer_the_same_404_as_an_unknown_id(api):
    stranger = Person.objects.get(name="佐藤 幸子")  # no consent here
    ended = consented(api, "山田 花子", status="cancelled", ended_at=datetime.now(UTC), ended_by="patient")
    reader = consented(api, "鈴木 一郎", items=["medication"])  # no qualification item
    elsewhere = patient_id_for("1310000017", reader.pk)  # the same person as another institution knows them
    unknown = api("Patient/doesnotexist")
    rows_before = AccessEvent.objects.filter(outcome="ok").count()

    refused = [
        api(f"Patient/{pid(stranger)}"),
        api(f"Patient/{pid(ended)}"),
        api(f"Patient/{elsewhere}"),
        api(f"Coverage/{fhir.record_id(pid(reader), 'coverage', 1)}"),
        api(f"Coverage/{pid(stranger)}-aaaaaaaaaaaaaaaa"),
        api(f"Consent/{pid(stranger)}-aaaaaaaaaaaaaaaa"),
        api("Organization/insurer-99999999"),
    ]

    assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"
    assert [(r.status_code, r.json()) for r in refused] == [(404, unknown.json())] * len(refused)
    assert AccessEvent.objects.filter(outcome="ok").count() == rows_before


def test_a_read_after_the_consent_is_cancelled_is_refused(api):
    person = consented(api, "山田 太郎")
    assert api(f"Patient/{pid(person)}").status_code == 200

    Consent.objects.filter(person=person).update(
        status="cancelled", ended_at=datetime.now(UTC), ended_by="patient"
    )

    assert api(f"Patient/{pid(person)}").status_code == 404


# --- 3. Bundles: fullUrl, _include, total, links -------------------------------------------------
def a_patient_with_medication(api, *, with_checkups=False):
    records = MedicationRecord.objects.filter(dispensed_on__lte=date.today())
    if with_checkups:
        records = records.filter(person__in=CheckupResult.objects.values("person"))
    latest = records.order_by("-dispensed_on").first()
    return consented(api, latest.person), latest.dispensed_on.strftime("%Y-%m")


def test_a_search_includes_its_patient_and_every_entry_has_a_full_url(api):
    person, month = a_patient_with_medication(api)
    before = log_rows(person).count()

    bundle = validated(
        Bundle,
        api(
            "MedicationDispense", patient=pid(person), month_from=month, _include="MedicationDispense:patient"
        ).json(),
    )
    bare = validated(Bundle, api("MedicationDispense", patient=pid(person), month_from=month).json())

    modes = [e["search"]["mode"] for e in bundle["entry"]]
    assert modes[-1] == "include" and modes.count("include") == 1 and bundle["total"] == modes.count("match")
    assert all(
        e["fullUrl"] == f"{BASE}{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    )
    included = bundle["entry"][-1]
    assert included["resource"]["resourceType"] == "Patient"
    assert included["fullUrl"] == BASE + bundle["entry"][0]["resource"]["subject"]["reference"]
    assert [e["resource"]["resourceType"] for e in bare["entry"]] == ["MedicationDispense"] * bare["total"]
    # the included Patient is a read of its own: its own access-log row
    assert sorted(r.detail["read"] for r in log_rows(person)[before:]) == [
        "fhir_patient",
        "medication",
        "medication",
    ]


def test_the_data_paths_accept_include_too(api):
    person, month = a_patient_with_medication(api)

    bundle = api(
        f"/api/v1/patients/{pid(person)}/medication", month_from=month, _include="MedicationDispense:patient"
    ).json()
    checkups = api(f"/api/v1/fhir/patients/{pid(person)}/checkups", _include="Observation:patient").json()

    assert bundle["entry"][-1]["resource"]["resourceType"] == "Patient"
    assert bundle["entry"][-1]["search"]["mode"] == "include"
    assert checkups["entry"][-1]["resource"]["id"] == pid(person)


def test_patient_search_counts_across_pages_and_links_self_and_next(api):
    for name in ("山田 太郎", "鈴木 一郎", "山田 花子"):
        consented(api, name)

    pages, url = [], None
    first = api("Patient", _count=1).json()
    pages.append(first)
    for _ in range(5):  # bounded: 3 pages expected
        url = next((link["url"] for link in pages[-1]["link"] if link["relation"] == "next"), None)
        if url is None:
            break
        path, query = url.split("/api/v1/fhir/", 1)[1].split("?", 1)
        pages.append(api(path, **dict(part.split("=", 1) for part in query.split("&"))).json())

    assert [p["total"] for p in pages] == [3, 3, 3]
    assert len({p["entry"][0]["resource"]["id"] for p in pages}) == 3
    assert pages[0]["link"][0] == {
        "relation": "self",
        "url": "http://testserver/api/v1/fhir/Patient?_count=1",
    }
    assert all(
        "cursor=" in link["url"] for p in pages[1:] for link in p["link"] if link["relation"] == "self"
    )
    assert all(e["fullUrl"].startswith(BASE + "Patient/") for p in pages for e in p["entry"])
    for page in pages:
        validated(Bundle, page)


def test_a_search_without_patient_is_refused_with_a_field_problem(api):
    response = api("MedicationDispense")

    assert response.status_code == 400
    issue = response.json()["issue"]
    assert issue[0]["details"]["coding"][0]["code"] == "input_invalid"
    assert any(i.get("expression") == ["patient"] for i in issue)


def test_an_eligibility_without_an_answer_has_an_outcome_entry_with_a_full_url(api):
    from homeconsent.registry.models import ElderlyCertificate, LimitCertificate, Qualification

    person = consented(api, "鈴木 一郎")
    LimitCertificate.objects.filter(qualification__person=person).delete()
    ElderlyCertificate.objects.filter(qualification__person=person).delete()
    Qualification.objects.filter(person=person).delete()

    bundle = validated(Bundle, api("Coverage", patient=pid(person)).json())

    [entry] = bundle["entry"]
    assert entry["search"]["mode"] == "outcome" and entry["fullUrl"].startswith("urn:uuid:")
    assert bundle["total"] == 0


# --- 4. JP Core content --------------------------------------------------------------------------
def test_medication_dispenses_carry_rp_identifiers_and_merit9_quantities(api):
    person, month = a_patient_with_medication(api)

    bundle = api("MedicationDispense", patient=pid(person), month_from=month).json()

    dispenses = [e["resource"] for e in bundle["entry"]]
    for resource in dispenses:
        systems = {i["system"]: i["value"] for i in resource["identifier"]}
        assert set(systems) == {fhir.SYSTEM_RP_NUMBER, fhir.SYSTEM_ORDER_IN_RP}
        assert systems[fhir.SYSTEM_RP_NUMBER].isdigit() and systems[fhir.SYSTEM_ORDER_IN_RP].isdigit()
        assert resource["quantity"]["system"] == fhir.SYSTEM_MERIT9_UNIT
        assert resource["quantity"]["code"] in {"TAB", "CAP"}


def test_rp_numbers_group_a_dispensing_by_usage_and_days(api):
    records = list(MedicationRecord.objects.order_by("person", "dispensed_on", "pk")[:200])
    numbers = fhir.rp_numbers(records)

    by_rp, orders = {}, {}
    for r in records:
        key = (r.dispensed_on, r.source, r.dispensing_institution_id, r.dispensing_institution_name)
        by_rp.setdefault((key, numbers[r.pk][0]), set()).add((r.usage, r.days))
        orders.setdefault((key, numbers[r.pk][0]), []).append(numbers[r.pk][1])
    assert all(len(ways) == 1 for ways in by_rp.values())  # one way of taking per Rp
    assert all(sorted(o) == list(range(1, len(o) + 1)) for o in orders.values())  # 1, 2, … within each Rp
    assert any(len(o) > 1 for o in orders.values())  # the seeded data has Rps of several drugs


def test_checkup_observations_carry_the_jp_core_category(api):
    categories = {
        r.item_code: fhir.observation(r, "x" * 26)["category"][0]["coding"][0]
        for r in CheckupResult.objects.filter(
            item_code__in=["9N011000000000001", "9A751000000000001", "3D046000001906202"]
        )
    }

    assert {c["system"] for c in categories.values()} == {fhir.SYSTEM_OBSERVATION_CATEGORY}
    assert categories["9N011000000000001"]["code"] == "body-measurement"
    assert categories["9A751000000000001"]["code"] == "vital-signs"
    assert categories["3D046000001906202"]["code"] == "laboratory"


def test_every_system_is_of_one_jp_core_release_or_named_as_outside_it():
    # The systems JP Core defines come from 1.2.0; the table in docs/fhir.md lists each with its source.
    from pathlib import Path

    table = (Path(__file__).resolve().parents[2] / "docs" / "fhir.md").read_text(encoding="utf-8")
    systems = [
        v
        for k, v in vars(fhir).items()
        if k.startswith(("SYSTEM_", "PROFILE_", "EXT_")) and isinstance(v, str)
    ]

    missing = [s for s in systems if f"`{s}`" not in table]
    assert missing == []
    assert "JP Core 1.2.0" in table and "v1.1" not in table
    assert "urn:oid:1.2.392.100495.20.3.61" not in systems  # the 1.1.x insurer OID


def test_a_search_and_its_included_patient_are_logged_together_or_not_at_all(api):
    # given a medication search whose consent is cancelled before its Patient is included (a race)
    from clinicapi import fhir_reads, reads
    from clinicapi.auth import ApiAccess
    from clinicapi.errors import ApiRefusal

    person, _ = a_patient_with_medication(api)
    access = ApiAccess("client-1", CODE, frozenset({"medication.read"}), 0, datetime.now(UTC))
    before = AccessEvent.objects.count()

    def search_then_cancel():
        found = reads.medication(access, pid(person))
        Consent.objects.filter(person=person).update(
            status="cancelled", ended_at=datetime.now(UTC), ended_by="patient"
        )
        return found

    # when the include is refused
    with pytest.raises(ApiRefusal):
        fhir_reads.with_patient(access, api.institution, pid(person), "medication", search_then_cancel)

    # then the search's own access-log row went with it, and the consent is as it was
    assert AccessEvent.objects.count() == before
    assert Consent.objects.get(person=person).status == "active"


def test_a_bad_count_is_named_as_the_client_sent_it(api):
    response = api("Patient", _count="many")

    assert response.status_code == 400
    problems = [i for i in response.json()["issue"] if i.get("expression")]
    assert [i["expression"] for i in problems] == [["_count"]]
    assert problems[0]["details"]["text"] and problems[0]["diagnostics"]  # Japanese and English


def test_every_entry_of_a_medical_search_reads_back_at_its_full_url(api):
    person, month = a_patient_with_medication(api, with_checkups=True)
    searches = [
        api("MedicationDispense", patient=pid(person), month_from=month),
        api("Observation", patient=pid(person)),
        api("Procedure", patient=pid(person)),
    ]
    entries = [e for s in searches for e in s.json().get("entry", [])]
    assert {e["resource"]["resourceType"] for e in entries} >= {"MedicationDispense", "Observation"}
    before = log_rows(person).count()

    for entry in entries:
        read = api(entry["fullUrl"].removeprefix("http://testserver"))
        assert read.status_code == 200 and read.json() == entry["resource"]

    rows = list(log_rows(person)[before:])
    assert len(rows) == len(entries)
    assert {r.detail["read"] for r in rows} <= {"fhir_medication", "fhir_checkup", "fhir_treatment"}


def test_a_medical_read_outside_the_consented_items_is_the_same_404(api):
    person, month = a_patient_with_medication(api)
    [entry, *_] = api("MedicationDispense", patient=pid(person), month_from=month).json()["entry"]
    Consent.objects.filter(person=person).update(items=["qualification"])

    refused = api(f"MedicationDispense/{entry['resource']['id']}")
    elsewhere = api(f"Observation/{entry['resource']['id']}")  # the id of another resource type

    assert refused.status_code == elsewhere.status_code == 404
    assert refused.json() == elsewhere.json() == api("MedicationDispense/unknown").json()
