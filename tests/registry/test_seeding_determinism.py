"""The synthetic registry: same seed, same data; the demo persons."""

from datetime import date

from homeconsent.registry.eligibility import Validity, resolve_by_keys
from homeconsent.registry.models import (
    CheckupResult,
    ElderlyCertificate,
    ExpenseNotice,
    LimitCertificate,
    MedicationRecord,
    Person,
    PublicExpenseCertificate,
    Qualification,
    SpecificDiseaseCertificate,
    TreatmentRecord,
)
from homeconsent.registry.seeding import seed_demo_persons, seed_registry

AS_OF = date(2025, 6, 1)
PERSON_TABLES = [MedicationRecord, TreatmentRecord, CheckupResult, ExpenseNotice, PublicExpenseCertificate]
CERTIFICATES = [ElderlyCertificate, LimitCertificate, SpecificDiseaseCertificate]


def snapshot():
    return {
        "persons": list(
            Person.objects.order_by("pk").values_list("name", "name_kana", "sex", "birth_date", "address")
        ),
        "qualifications": list(
            Qualification.objects.order_by("pk").values_list(
                "person__name",
                "insurer__number",
                "symbol",
                "number",
                "branch",
                "personal_family",
                "acquired_on",
                "lost_on",
                "reason_of_loss",
                "contribution_ratio",
                "preschool",
                "card_classification",
            )
        ),
        "medication": list(
            MedicationRecord.objects.order_by("pk").values_list(
                "person__birth_date",
                "source",
                "dispensed_on",
                "drug_code",
                "days",
                "dispensing_institution__code",
            )
        ),
        "checkups": list(
            CheckupResult.objects.order_by("pk").values_list("checked_on", "item_code", "value")
        ),
        "expenses": list(
            ExpenseNotice.objects.order_by("pk").values_list("month", "total_cost", "patient_paid")
        ),
        "public_expense": list(
            PublicExpenseCertificate.objects.order_by("pk").values_list(
                "person__birth_date", "programme", "payer_number", "recipient_number", "valid_from"
            )
        ),
    }


def wipe():
    for model in PERSON_TABLES + CERTIFICATES + [Qualification, Person]:
        model.objects.all().delete()


def test_same_seed_gives_the_same_registry_and_another_seed_does_not(db):
    seed_registry(150, seed=7, as_of=AS_OF, chunk_size=60)
    first = snapshot()
    wipe()
    seed_registry(150, seed=7, as_of=AS_OF, chunk_size=60)
    assert snapshot() == first
    wipe()
    seed_registry(150, seed=8, as_of=AS_OF, chunk_size=60)
    assert snapshot()["persons"] != first["persons"]


def test_summary_counts_what_was_written(db):
    summary = seed_registry(120, seed=3, as_of=AS_OF)
    assert summary.counts["Person"] == Person.objects.count() == 120
    assert summary.counts["Qualification"] == Qualification.objects.count()
    assert summary.counts["MedicationRecord"] == MedicationRecord.objects.count() > 0
    assert "seeded 120 persons" in summary.lines()[0]


def test_demo_persons_are_stable_and_resolve_as_described(db):
    seed_registry(30, seed=1, as_of=AS_OF)
    demo = {d["slug"]: d for d in seed_demo_persons(as_of=AS_OF)}
    again = {d["slug"]: d for d in seed_demo_persons(as_of=AS_OF)}
    assert demo == again and Person.objects.filter(name="山田 太郎").count() == 1

    def validity(slug):
        d = demo[slug]
        return resolve_by_keys(
            d["insurer_number"], d["symbol"], d["number"], d["branch"], d["birth_date"], on=AS_OF
        )

    assert validity("yamada-taro").validity == Validity.VALID
    assert validity("sato-sachiko").elderly_certificate is not None
    assert validity("takahashi-yui").qualification["PreschoolClassification"] == "1"
    assert validity("watanabe-minoru").validity == Validity.LOST
    ito_old = resolve_by_keys("01130012", "9999", "108", "00", demo["ito-makoto"]["birth_date"], on=AS_OF)
    assert ito_old.validity == Validity.LOST_WITH_NEWER
    suzuki = validity("suzuki-ichiro")
    assert (
        suzuki.qualification["InsuredPartialContributionRatio"] == "010" and suzuki.limit_certificate is None
    )
    assert TreatmentRecord.objects.filter(
        person_id=demo["suzuki-ichiro"]["person_id"], procedure_code="114001110"
    ).exists()
