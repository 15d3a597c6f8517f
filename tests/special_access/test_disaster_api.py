"""Disaster mode for institution systems: POST /api/v1/disaster/search and GET …/encounters/{encounter},
under the scope disaster.read, with the console's rules and log rows."""

import base64

import jsonschema
import pytest
from django.test import Client

from clinicapi.disaster_api import SEARCH_INPUTS
from homeconsent.audit.models import AccessEvent
from homeconsent.special_access.models import SearchMethod
from tests.clinicapi.conftest import institutional_system

from .conftest import OUTSIDE, make_institution, search_data

pytestmark = pytest.mark.django_db
SCOPES = ["qualification.read", "disaster.read"]


@pytest.fixture
def pharmacy_api(institutions):
    return institutional_system(institutions["pharmacy"], Client(), SCOPES)


def test_a_pharmacy_system_finds_and_reads_inside_a_scope(pharmacy_api, scopes, resident):
    patient = resident()
    keys = search_data(patient, "insurer_keys")
    found = pharmacy_api.post(
        "/api/v1/disaster/search", {"method": "insurer_keys", "reason": "unconscious", **keys}
    )
    assert found.status_code == 201, found.json()
    body = found.json()
    assert body["patient"]["name"] == patient.person.name and body["scope"]["id"] == scopes["inside"].pk
    summary = pharmacy_api.get(f"/api/v1/disaster/encounters/{body['encounter']}")
    assert summary.status_code == 200 and summary["Cache-Control"] == "no-store"
    data = summary.json()
    assert data["items"] == ["qualification", "medication", "checkup"]
    assert [m["drug_name"] for m in data["medication"]] == ["アムロジピン錠5mg"]
    assert (
        data["checkups"][0]["item_name"] == "HbA1c" and data["eligibility"]["qualification_validity"] == "1"
    )
    detail = pharmacy_api.get(f"/api/v1/disaster/encounters/{body['encounter']}", item="medication").json()
    assert len(detail["medication"]) == 2 and detail["checkups"] is None
    rows = AccessEvent.objects.filter(
        person=patient.person, actor_id=pharmacy_api.client_id, outcome="ok"
    ).order_by("id")
    assert [(r.basis, r.detail["action"]) for r in rows] == [
        ("disaster", "disaster_search"),
        ("disaster", "disaster_view"),
        ("disaster", "disaster_view"),
    ]
    assert all(r.actor_type == "institution_client" and r.detail["reason"] == "unconscious" for r in rows)


def test_the_same_rules_refuse_with_codes(pharmacy_api, scopes, resident):
    outside = resident(code=OUTSIDE, address="東京都新宿区西新宿2丁目8-1")
    inside = resident(card=1)
    attempt = {"method": "attributes", "reason": "oral", **search_data(outside, "attributes")}
    refused = pharmacy_api.post("/api/v1/disaster/search", attempt)
    assert refused.status_code == 404 and refused.json()["code"] == "special_access_no_match"
    too_little = pharmacy_api.post(
        "/api/v1/disaster/search", {"method": "attributes", "reason": "oral", "name": "x"}
    ).json()
    assert (
        too_little["code"] == "input_invalid" and too_little["details"]["birth_date"][0]["code"] == "required"
    )
    no_reason = pharmacy_api.post(
        "/api/v1/disaster/search", {"method": "card", "reason": "other", "certificate": "AAAA"}
    )
    assert no_reason.status_code == 400 and no_reason.json()["code"] == "special_access_reason_required"
    found = pharmacy_api.post(
        "/api/v1/disaster/search",
        {"method": "attributes", "reason": "oral", **search_data(inside, "attributes")},
    ).json()
    assert (
        pharmacy_api.get(f"/api/v1/disaster/encounters/{found['encounter']}", item="treatment").status_code
        == 400
    )
    other = institutional_system(make_institution("174000077", "ほか薬局"), Client(), SCOPES)
    assert (
        other.get(f"/api/v1/disaster/encounters/{found['encounter']}").json()["code"]
        == "special_access_encounter_ended"
    )
    assert not AccessEvent.objects.filter(
        person=outside.person, outcome="ok", actor_type="institution_client"
    ).exists()


def test_the_scope_is_required(institutions, scopes, resident):
    patient = resident()
    system = institutional_system(institutions["hospital"], Client(), ["qualification.read"])
    response = system.post(
        "/api/v1/disaster/search", {"method": "card", "reason": "oral", "certificate": "AAAA"}
    )
    assert response.status_code == 403 and response.json()["code"] == "scope_insufficient"
    assert not AccessEvent.objects.filter(person=patient.person, actor_type="institution_client").exists()


@pytest.fixture
def search_body_schema(client):
    """The served schema's body of POST /disaster/search, and a validator of bodies against it."""
    schema = client.get("/api/v1/schema", {"format": "json"}).json()
    body = schema["paths"]["/api/v1/disaster/search"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    components = schema["components"]
    validator = jsonschema.Draft4Validator({"$ref": ref, "components": components})
    one_of = components["schemas"][ref.rsplit("/", 1)[1]]
    mapping = {
        method: components["schemas"][target.rsplit("/", 1)[1]]
        for method, target in one_of["discriminator"]["mapping"].items()
    }
    return body, mapping, validator


def test_each_method_has_its_own_body_and_the_server_requires_what_it_states(
    pharmacy_api, scopes, resident, search_body_schema
):
    # given a patient found by every method, and the schema's body of each method
    body, mapping, schema = search_body_schema
    patient = resident()
    found_by = {
        "attributes": search_data(patient, "attributes"),
        "insurer_keys": search_data(patient, "insurer_keys"),
        "card": {"certificate": base64.b64encode(patient.card.auth_cert_der).decode()},
    }
    assert body["required"] is True and set(mapping) == set(SearchMethod.values) == set(SEARCH_INPUTS)

    for method, component in mapping.items():
        full = {"method": method, "reason": "oral", "reason_text": "", **found_by[method]}
        # the schema names the fields the method's serializer reads, and no other
        assert set(component["properties"]) == set(SEARCH_INPUTS[method]().fields) == set(full)
        assert schema.is_valid(full) and _search(pharmacy_api, full).status_code == 201
        # when each field in turn is left out
        for field in component["properties"]:
            partial = {k: v for k, v in full.items() if k != field}
            response = _search(pharmacy_api, partial)
            # then the server refuses exactly what the schema calls required, naming the field
            if field in component["required"]:
                assert not schema.is_valid(partial), (method, field)
                assert response.status_code == 400 and field in response.json()["details"], (method, field)
            else:
                assert schema.is_valid(partial), (method, field)
                assert response.status_code in (201, 404), (method, field, response.json())


@pytest.mark.parametrize(
    "change, code",
    [
        ({"reason": "other"}, "special_access_reason_required"),
        ({"reason": "other", "reason_text": " \u3000 "}, "special_access_reason_required"),
        ({"reason": "other", "reason_text": "家族が口頭で同意"}, None),
        ({"name": " \u3000"}, "input_invalid"),
        ({"name": "鈴木\x00"}, "input_invalid"),
        ({"birth_date": "19500402"}, "input_invalid"),
        ({"sex": "9"}, "input_invalid"),
        ({"sex": ""}, None),
        ({"method": "card"}, "input_invalid"),
        ({"method": "unknown"}, "input_invalid"),
    ],
)
def test_the_schema_and_the_server_agree_on_each_body(
    pharmacy_api, scopes, resident, search_body_schema, change, code
):
    # given the schema and a body that finds a patient by attributes, changed
    _, _, schema = search_body_schema
    sent = {"method": "attributes", "reason": "oral", **search_data(resident(), "attributes"), **change}
    # when it is sent
    response = _search(pharmacy_api, sent)
    # then the schema allows it exactly when the server takes it, and a refusal has its code
    assert schema.is_valid(sent) == (code is None)
    assert response.status_code == 201 if code is None else response.json()["code"] == code


@pytest.mark.parametrize(
    "certificate, code",
    [
        ("not base64!", "input_invalid"),
        ("AAAA AAAA", "input_invalid"),
        ("AAA", "input_invalid"),
        ("AAAA", "malformed_certificate"),
    ],
)
def test_a_card_search_states_its_certificate_form(
    pharmacy_api, scopes, search_body_schema, certificate, code
):
    # given the schema and a card search with this certificate
    _, _, schema = search_body_schema
    sent = {"method": "card", "reason": "oral", "certificate": certificate}
    # when it is sent
    response = _search(pharmacy_api, sent)
    # then what the schema's form refuses is input_invalid; a well-formed one the card check refuses
    # (a rule the schema states in words: a current card registered for insurance use)
    assert schema.is_valid(sent) == (code != "input_invalid")
    assert response.status_code == 400 and response.json()["code"] == code


def _search(api, body):
    return api.post("/api/v1/disaster/search", body)
