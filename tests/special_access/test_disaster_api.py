"""Disaster mode for institution systems: POST /api/v1/disaster/search and GET …/encounters/{encounter},
under the scope disaster.read, with the console's rules and log rows."""

import pytest
from django.test import Client

from homeconsent.audit.models import AccessEvent
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
    assert (
        pharmacy_api.post(
            "/api/v1/disaster/search", {"method": "attributes", "reason": "oral", "name": "x"}
        ).json()["code"]
        == "special_access_search_too_little"
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
