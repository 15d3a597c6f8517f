"""Staff browse every registry model; history and medical rows are read-only."""

from datetime import date

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model

from homeconsent.registry import models
from homeconsent.registry.seeding import seed_registry
from tests.operators import sign_in_verified

REGISTRY_MODELS = [
    models.Person,
    models.Insurer,
    models.Qualification,
    models.ElderlyCertificate,
    models.LimitCertificate,
    models.SpecificDiseaseCertificate,
    models.Institution,
    models.CardCertificate,
    models.MedicationRecord,
    models.TreatmentRecord,
    models.CheckupResult,
    models.ExpenseNotice,
]


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("staff", "staff@example.invalid", "x" * 16)
    return sign_in_verified(client, user)


def test_every_registry_model_has_a_changelist_that_searches(staff_client):
    seed_registry(30, seed=2, as_of=date(2025, 6, 1))
    for model in REGISTRY_MODELS:
        assert model in admin.site._registry, model
        url = f"/admin/registry/{model._meta.model_name}/"
        assert staff_client.get(url).status_code == 200, url
        assert staff_client.get(url, {"q": "01130012"}).status_code == 200, url
    person = models.Person.objects.first()
    assert staff_client.get(f"/admin/registry/person/{person.pk}/change/").status_code == 200
    q = models.Qualification.objects.first()
    assert staff_client.get(f"/admin/registry/qualification/{q.pk}/change/").status_code == 200


def test_history_and_medical_information_cannot_be_edited_or_deleted(staff_client):
    seed_registry(10, seed=2, as_of=date(2025, 6, 1))
    q = models.Qualification.objects.first()
    response = staff_client.post(f"/admin/registry/qualification/{q.pk}/change/", {"number": "changed"})
    assert response.status_code == 403
    q.refresh_from_db()
    assert q.number != "changed"
    assert staff_client.get(f"/admin/registry/qualification/{q.pk}/delete/").status_code == 403
    assert staff_client.get("/admin/registry/medicationrecord/add/").status_code == 403
