"""An operator's look at a person's data in the admin is a logged read, shown to that person."""

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import events_for_person
from homeconsent.registry import models
from homeconsent.registry.seeding import seed_registry
from tests.operators import sign_in_verified

AS_OF = date(2025, 6, 1)


@pytest.fixture
def operator(client, db):
    user = get_user_model().objects.create_superuser("ops-suzuki", "ops@example.invalid", "x" * 16)
    return sign_in_verified(client, user)


@pytest.fixture
def seeded(db):
    seed_registry(30, seed=2, as_of=AS_OF)


def test_viewing_a_medication_record_writes_one_entry_naming_the_person_and_the_item(operator, seeded):
    record = models.MedicationRecord.objects.order_by("pk").first()
    # when an operator opens the record
    response = operator.get(f"/admin/registry/medicationrecord/{record.pk}/change/")
    # then the page shows the drug, and exactly one entry names the person and the item
    assert response.status_code == 200 and record.drug_name in response.content.decode()
    [event] = AccessEvent.objects.all()
    assert event.person_id == record.person_id and event.items == ["medication"]
    assert (event.actor_type, event.actor_id, event.basis, event.outcome) == (
        "operator",
        "admin:ops-suzuki",
        "operator",
        "ok",
    )
    assert event.detail == {"action": "admin_view", "model": "medicationrecord", "object_id": record.pk}
    # and the person sees it in their own history
    assert list(events_for_person(record.person_id)) == [event]


@pytest.mark.parametrize(
    "model, item",
    [
        (models.TreatmentRecord, "treatment"),
        (models.CheckupResult, "checkup"),
        (models.ExpenseNotice, "expense_notice"),
        (models.ElderlyCertificate, "qualification"),
        (models.LimitCertificate, "limit_certificate"),
        (models.CardCertificate, "card_registration"),
    ],
)
def test_every_detail_page_of_a_persons_row_is_logged(operator, seeded, model, item):
    if model is models.CardCertificate:  # the seed links no cards
        models.CardCertificate.objects.create(
            person=models.Person.objects.order_by("pk").last(),
            issuer="CN=Test JPKI",
            serial="0a1b",
            fingerprint_sha256="ab" * 32,
            not_before=timezone.now(),
            not_after=timezone.now(),
            certificate_der=b"x",
        )
    row = model.objects.order_by("pk").first()
    assert row is not None, model
    person_id = row.person_id if hasattr(row, "person_id") else row.qualification.person_id
    assert operator.get(f"/admin/registry/{model._meta.model_name}/{row.pk}/change/").status_code == 200
    [event] = AccessEvent.objects.all()
    assert (event.person_id, event.items) == (person_id, [item])


def test_viewing_a_person_logs_the_person_and_what_the_inlines_show(operator, seeded):
    person = models.Person.objects.order_by("pk").first()
    assert operator.get(f"/admin/registry/person/{person.pk}/change/").status_code == 200
    [event] = AccessEvent.objects.all()
    assert event.person_id == person.pk
    assert event.items == ["person", "qualification", "card_registration"]


def test_a_missing_row_logs_nothing(operator, seeded):
    response = operator.get("/admin/registry/medicationrecord/999999/change/")
    assert response.status_code == 302  # the admin redirects with "does not exist"
    assert not AccessEvent.objects.exists()


def test_medical_changelists_show_no_drug_procedure_or_item_names_and_log_nothing(operator, seeded):
    drugs = set(models.MedicationRecord.objects.values_list("drug_name", flat=True))
    procedures = set(models.TreatmentRecord.objects.values_list("procedure_name", flat=True))
    checkup_items = set(models.CheckupResult.objects.values_list("item_name", flat=True))
    names = set(models.Person.objects.values_list("name", flat=True))
    assert drugs and procedures and checkup_items
    pages = {
        models.MedicationRecord: drugs,
        models.TreatmentRecord: procedures,
        models.CheckupResult: checkup_items,
        models.ExpenseNotice: {"医科入院"},
        models.SpecificDiseaseCertificate: {"血友病", "人工腎臓", "後天性免疫不全症候群"},
        models.LimitCertificate: {"現役並み", "低所得"},
    }
    for model, forbidden in pages.items():
        model_name = model._meta.model_name
        html = operator.get(f"/admin/registry/{model_name}/").content.decode()
        newest = model.objects.order_by("-pk").first()
        assert newest is None or f"/{newest.pk}/change/" in html, model_name  # the page does list rows
        shown = {text for text in forbidden | names if text in html}
        assert not shown, (model_name, sorted(shown)[:3])
    assert not AccessEvent.objects.exists()


def test_a_medical_list_filtered_to_one_person_still_shows_only_ids_dates_and_institutions(operator, seeded):
    # a person whose records fit on the list's first page
    fewest = (
        models.MedicationRecord.objects.values("person_id").annotate(n=Count("pk")).order_by("n", "person_id")
    )
    record = models.MedicationRecord.objects.filter(person_id=fewest[0]["person_id"]).order_by("pk").first()
    html = operator.get("/admin/registry/medicationrecord/", {"q": str(record.person_id)}).content.decode()
    assert f"/{record.pk}/change/" in html  # found by the exact person id
    assert record.drug_name not in html and not AccessEvent.objects.exists()


def test_the_person_list_logs_one_entry_per_person_shown(operator, seeded):
    response = operator.get("/admin/registry/person/")
    shown = {person.pk for person in response.context["cl"].result_list}
    events = list(AccessEvent.objects.all())
    assert len(shown) == 30 and {e.person_id for e in events} == shown and len(events) == len(shown)
    assert all(e.items == ["person"] and e.detail["action"] == "admin_list" for e in events)


def test_the_qualification_list_logs_each_person_once(operator, seeded):
    response = operator.get("/admin/registry/qualification/")
    shown = {q.person_id for q in response.context["cl"].result_list}
    events = list(AccessEvent.objects.all())
    assert sorted(e.person_id for e in events) == sorted(shown)
    assert all(e.items == ["qualification"] for e in events)


def test_editing_a_persons_contact_details_is_logged_with_the_fields_changed(operator, seeded):
    person = models.Person.objects.order_by("pk").first()
    form = operator.get(f"/admin/registry/person/{person.pk}/change/").context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update({"address": "東京都千代田区霞が関1-2-2", "postal_code": "1000013"})
    for prefix in ("qualifications", "card_certificates"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = operator.post(f"/admin/registry/person/{person.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    person.refresh_from_db()
    assert person.address == "東京都千代田区霞が関1-2-2"
    change = AccessEvent.objects.filter(detail__action="admin_change").get()
    assert change.person_id == person.pk and change.items == ["person"] and change.basis == "operator"
    assert change.detail["changed"] == ["address", "postal_code"]


def test_admin_search_with_full_width_digits_finds_the_stored_keys(operator, seeded):
    q = models.Qualification.objects.exclude(number="").order_by("pk").first()
    wide = q.number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert wide != q.number
    response = operator.get("/admin/registry/qualification/", {"q": wide})
    assert q.pk in {row.pk for row in response.context["cl"].result_list}
