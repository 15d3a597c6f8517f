"""What every answer of the institutions' API shares, checked on real answers and on the published
examples: Japan time in whole seconds, patient ids of the real form, and input problems per field in
Japanese and English (in JSON and in FHIR)."""

import base64
import datetime
import re
from pathlib import Path

import pytest
from django.test import Client

from clinicapi.patients import PATIENT_ID_LENGTH, patient_id_for
from tests.clinicapi.conftest import register_consent

pytestmark = pytest.mark.django_db

EXAMPLES_DAY = datetime.date(2026, 11, 25)  # the day the examples are written on
DOCS = Path(__file__).resolve().parents[2] / "docs"
JAPAN_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+09:00")
LOOKS_LIKE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def times_in(*bodies) -> list[str]:
    return [s for body in bodies for s in strings(body) if LOOKS_LIKE_TIME.match(s)]


def is_patient_id(value: str) -> bool:
    """26 lower-case base32 characters that are the one canonical spelling of a 16-byte block."""
    if not re.fullmatch(r"[a-z2-7]{%d}" % PATIENT_ID_LENGTH, value):
        return False
    block = base64.b32decode(value.upper() + "======")
    return len(block) == 16 and base64.b32encode(block).rstrip(b"=").decode().lower() == value


# --- times -----------------------------------------------------------------------------------------
def test_every_time_in_real_answers_is_japan_time_in_whole_seconds(clinic_api, clinic, make_patient):
    # given a patient with a home-visit consent here (given now, so with microseconds in the database)
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["qualification", "medication"])
    q = patient.person.qualifications.get()
    patient_id = patient_id_for(clinic.code, patient.person.pk)

    # when the clinic reads the list, the eligibility, the medication, its token, a batch and a cancellation
    listed = clinic_api.get("/api/v1/patients").json()
    eligibility = clinic_api.get(f"/api/v1/patients/{patient_id}/eligibility").json()
    medication = clinic_api.get(f"/api/v1/patients/{patient_id}/medication").json()
    whoami = clinic_api.get("/api/v1/whoami").json()
    received = clinic_api.post(
        "/api/v1/batches",
        {
            "entries": [
                {
                    "insurer_number": q.insurer.number,
                    "symbol": q.symbol,
                    "number": q.number,
                    "branch": q.branch,
                    "birth_date": patient.person.birth_date.isoformat(),
                }
            ]
        },
    ).json()
    results = clinic_api.get(f"/api/v1/batches/{received['reception_number']}").json()
    fhir_list = clinic_api.http.get(
        "/api/v1/fhir/patients", HTTP_AUTHORIZATION=f"Bearer {clinic_api.token}"
    ).json()
    cancelled = clinic_api.post(f"/api/v1/patients/{patient_id}/cancel").json()

    # then every time in them is Japan time with its offset and whole seconds
    found = times_in(listed, eligibility, medication, whoami, received, results, fhir_list, cancelled)
    assert len(found) >= 10
    assert [t for t in found if not JAPAN_TIME.fullmatch(t)] == []
    assert listed["patients"][0]["consent"]["given_at"] == cancelled["cancelled"][0]["given_at"]


# --- the published examples --------------------------------------------------------------------------
@pytest.fixture
def schema():
    response = Client().get("/api/v1/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def examples_of(schema) -> list:
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "examples" and isinstance(value, dict):
                    found.extend(e["value"] for e in value.values() if isinstance(e, dict) and "value" in e)
                elif key == "example":
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return found


def patient_ids_in(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "patient_id" and isinstance(item, str):
                yield item
            else:
                yield from patient_ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from patient_ids_in(item)


def test_the_schemas_example_patient_ids_have_the_real_form(schema, clinic):
    # given the examples the schema publishes
    ids = [i for example in examples_of(schema) for i in patient_ids_in(example)]

    # then there are some, each of the form the API gives (as a real id is)
    assert len(ids) >= 5
    assert [i for i in ids if not is_patient_id(i)] == []
    assert is_patient_id(patient_id_for(clinic.code, 42))


def test_the_schemas_example_times_are_japan_time_in_whole_seconds(schema):
    found = times_in(examples_of(schema))

    assert len(found) >= 5
    assert [t for t in found if not JAPAN_TIME.fullmatch(t)] == []


def test_the_docs_examples_use_real_patient_ids_and_japan_times():
    text = (
        (DOCS / "api.md").read_text()
        + (DOCS / "api-auth.md").read_text()
        + (DOCS / "api-data.md").read_text()
    )
    ids = re.findall(r'"patient_id": "([^"]+)"', text) + re.findall(r"patients/([A-Za-z0-9_.\-]{8,})/", text)
    ids += re.findall(r"clinicapi\.client (?:eligibility|medication) (\S+)", text)
    times = re.findall(r'"(\d{4}-\d{2}-\d{2}T[^"]*)"', text)

    assert ids and [i for i in ids if not is_patient_id(i)] == []
    assert times and [t for t in times if not JAPAN_TIME.fullmatch(t)] == []


def test_the_docs_search_keys_are_a_demo_persons(db):
    # given the demo persons as a demo seeded on the examples' day seeds them (birth dates follow the year)
    from homeconsent.registry.seeding import seed_demo_persons, seed_registry

    seed_registry(5, seed=1, as_of=EXAMPLES_DAY)
    keys = {
        (d["insurer_number"], d["number"], d["birth_date"]) for d in seed_demo_persons(as_of=EXAMPLES_DAY)
    }
    text = (DOCS / "api.md").read_text()

    # then the keys the docs use (requery and batch examples) are one of theirs
    used = set(
        re.findall(r'"insurer_number": "(\d+)".*?"number": "(\d+)".*?"birth_date": "([\d-]+)"', text, re.S)
    )
    used |= set(re.findall(r"--insurer-number (\d+) .*?--number (\d+) .*?--birth-date ([\d-]+)", text))
    assert used and used <= {(i, n, str(b)) for i, n, b in keys}, (used, keys)


# --- input problems ----------------------------------------------------------------------------------
def test_field_problems_come_coded_in_japanese_and_english(clinic_api, clinic, make_patient):
    # given a consented patient
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    url = f"/api/v1/patients/{patient_id_for(clinic.code, patient.person.pk)}/medication"

    # when the clinic sends a malformed month (ours), a reversed range (ours), a page size out of range
    # (DRF's message) and bad search keys (the registry's), asking for English pages besides
    month = clinic_api.http.get(
        url,
        {"month_from": "2025/04"},
        HTTP_AUTHORIZATION=f"Bearer {clinic_api.token}",
        HTTP_ACCEPT_LANGUAGE="en",
    ).json()
    reversed_ = clinic_api.get(url, month_from="2025-05", month_to="2025-04").json()
    page = clinic_api.get("/api/v1/patients", page_size="0").json()
    keys = clinic_api.post(
        "/api/v1/requery",
        {
            "insurer_number": "01130013",
            "symbol": "1",
            "number": "2",
            "branch": "0",
            "birth_date": "1948-02-30",
        },
    ).json()

    # then each field's problem has a code, a Japanese message and an English one
    problems = [
        p for body in (month, reversed_, page, keys) for items in body["details"].values() for p in items
    ]
    for body in (month, reversed_, page, keys):
        assert body["code"] == "input_invalid"
    for problem in problems:
        assert set(problem) == {"code", "message", "message_en"}
        assert JAPANESE.search(problem["message"]), problem
        # (English may quote a national term such as 枝番, but it is written in English)
        assert (
            re.match(r"[A-Za-z'\"]", problem["message_en"]) and problem["message_en"] != problem["message"]
        ), problem
    assert month["details"]["month_from"][0]["code"] == "month_invalid"
    assert reversed_["details"]["month_from"][0]["code"] == "range_reversed"
    assert page["details"]["page_size"][0]["code"] == "min_value"
    assert keys["details"]["birth_date"][0]["code"] == "date_invalid"


def test_an_input_problem_asked_as_fhir_names_each_field_in_its_issues(clinic_api):
    # when the clinic sends bad search keys to the FHIR path
    response = clinic_api.http.post(
        "/api/v1/fhir/requery",
        {
            "insurer_number": "01130013",
            "symbol": "1",
            "number": "2",
            "branch": "0",
            "birth_date": "1948-02-30",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {clinic_api.token}",
    )
    plain = clinic_api.post(
        "/api/v1/requery",
        {
            "insurer_number": "01130013",
            "symbol": "1",
            "number": "2",
            "branch": "0",
            "birth_date": "1948-02-30",
        },
    ).json()

    # then the OperationOutcome says input_invalid and then, per field problem, the field and the messages
    outcome = response.json()
    assert response.status_code == 400 and outcome["resourceType"] == "OperationOutcome"
    first, *fields = outcome["issue"]
    assert first["details"]["coding"][0]["code"] == "input_invalid"
    expected = [
        (field, p["code"], p["message"], p["message_en"])
        for field, items in plain["details"].items()
        for p in items
    ]
    assert [
        (i["expression"][0], i["details"]["coding"][0]["code"], i["details"]["text"], i["diagnostics"])
        for i in fields
    ] == expected
    assert {i["expression"][0] for i in fields} == {"insurer_number", "branch", "birth_date"}
    assert all(i["severity"] == "error" and i["code"] == "invalid" for i in fields)
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    OperationOutcome.model_validate(outcome)
