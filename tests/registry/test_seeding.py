"""The synthetic registry: realistic distributions and valid codes everywhere."""

from collections import Counter
from datetime import date

import pytest
from django.db import transaction

from homeconsent.registry import reference_data as ref
from homeconsent.registry.codes import is_valid_institution_code, is_valid_insurer_number
from homeconsent.registry.models import (
    CheckupResult,
    ElderlyCertificate,
    Institution,
    Insurer,
    LimitCertificate,
    MedicationRecord,
    Person,
    Qualification,
    SpecificDiseaseCertificate,
)
from homeconsent.registry.seeding import age_on, preschool_until, seed_registry

AS_OF = date(2025, 6, 1)
# The mark makes pytest-django set up the test database even when this file runs alone; without it
# the module fixture below would write to the configured (non-test) database.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """One medium registry shared by the distribution tests (read only), rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield seed_registry(3000, seed=11, as_of=AS_OF)
        transaction.set_rollback(True)


def test_contribution_ratio_follows_age(seeded, django_db_blocker):
    with django_db_blocker.unblock():
        periods = list(Qualification.objects.filter(lost_on__isnull=True).select_related("person", "insurer"))
        with_elderly = set(ElderlyCertificate.objects.values_list("qualification_id", flat=True))
    by_band = Counter()
    for q in periods:
        birth = q.person.birth_date
        age = age_on(birth, AS_OF)
        if AS_OF <= preschool_until(birth):
            assert (q.contribution_ratio, q.preschool) == ("020", True), (age, q)
            by_band["preschool"] += 1
        elif age < 70:
            assert (q.contribution_ratio, q.preschool) == ("030", False), (age, q)
            by_band["to 69"] += 1
        elif age < 75:
            assert (
                q.contribution_ratio in ("020", "030")
                and q.pk in with_elderly
                and q.card_classification == "02"
            )
            by_band["70-74"] += 1
        else:
            assert (
                q.insurer.kind == "kouki"
                and q.insurer.number.startswith("39")
                and q.card_classification == "03"
            )
            assert q.contribution_ratio in ("010", "020", "030")
            by_band["75+"] += 1
    assert all(by_band[b] > 20 for b in ("preschool", "to 69", "70-74", "75+")), by_band
    kouki = [q.contribution_ratio for q in periods if q.insurer.kind == "kouki"]
    assert Counter(kouki).most_common(1)[0][0] == "010"


def test_ages_follow_a_japanese_like_pyramid(seeded, django_db_blocker):
    with django_db_blocker.unblock():
        ages = [age_on(b, AS_OF) for b in Person.objects.values_list("birth_date", flat=True)]
    n = len(ages)
    assert min(ages) == 0 and 95 <= max(ages) <= 101
    share = lambda lo, hi: sum(lo <= a <= hi for a in ages) / n  # noqa: E731
    assert 0.09 < share(0, 14) < 0.15  # Japan ~12 %
    assert 0.12 < share(75, 101) < 0.20  # Japan ~15 %
    assert share(45, 54) > share(0, 9)  # the pyramid is wider in the middle than at the base


def test_households_kinds_history_and_certificates(seeded, django_db_blocker):
    with django_db_blocker.unblock():
        kinds = Counter(
            Qualification.objects.filter(lost_on__isnull=True).values_list("insurer__kind", flat=True)
        )
        family = Qualification.objects.filter(personal_family="2")
        reasons = Counter(
            Qualification.objects.exclude(reason_of_loss="").values_list("reason_of_loss", flat=True)
        )
        multi = Qualification.objects.values("person").annotate().count() - Person.objects.count()
        limits = list(
            LimitCertificate.objects.values_list("classification", "qualification__person__birth_date")
        )
        diseases = SpecificDiseaseCertificate.objects.count()
        six_digit = Insurer.objects.filter(kind="kokuho").values_list("number", flat=True)
        assert family.exists() and family.exclude(branch="00").count() == family.count()
        assert family.filter(insurer__kind__in=["kokuho", "kokuho_kumiai"]).count() == 0
    assert {"kyokai", "kumiai", "kyosai", "kokuho", "kokuho_kumiai", "kouki"} <= set(kinds)
    assert {"01", "02", "03", "99"} <= set(reasons)
    assert multi > 0  # past periods are kept beside the current ones
    assert limits and diseases > 0
    for cls, birth in limits:
        assert cls[0] == ("B" if age_on(birth, AS_OF) >= 70 else "A"), (cls, birth)
    assert all(len(n) == 6 for n in six_digit)


def test_limit_classes_from_70_go_with_the_share_paid(seeded, django_db_blocker):
    with django_db_blocker.unblock():
        limits = list(
            LimitCertificate.objects.filter(classification__startswith="B").values_list(
                "classification", "qualification__contribution_ratio", "qualification__insurer__kind"
            )
        )
    assert len(limits) > 20
    for cls, ratio, kind in limits:
        if ratio == "030":
            assert cls in ("B01", "B02", "B03"), (cls, ratio, kind)  # 現役並み pay 3割
        elif ratio == "020" and kind == "kouki":
            assert cls == "B04", (cls, ratio, kind)  # 一般Ⅱ
        else:
            assert cls in {f"B{i:02d}" for i in range(5, 11)}, (cls, ratio, kind)


def test_every_code_is_valid_and_every_prefecture_has_every_facility_type(seeded, django_db_blocker):
    with django_db_blocker.unblock():
        codes = list(Institution.objects.values_list("code", "prefecture", "facility_type"))
        numbers = list(Insurer.objects.values_list("number", flat=True))
        drug_codes = set(MedicationRecord.objects.values_list("drug_code", "yj_code", "drug_name").distinct())
        item_codes = set(CheckupResult.objects.values_list("item_code", flat=True))
        checkup_ages = {
            age_on(b, d) for b, d in CheckupResult.objects.values_list("person__birth_date", "checked_on")
        }
        sources = set(MedicationRecord.objects.values_list("source", flat=True))
    assert all(is_valid_institution_code(c) and c[:2] == p and c[2] == t for c, p, t in codes)
    assert {(p, t) for _, p, t in codes} == {(p[0], t) for p in ref.PREFECTURES for t in "1346"}
    assert all(is_valid_insurer_number(n) for n in numbers)
    assert drug_codes <= {(d.receipt_code, d.yj_code, d.name) for d in ref.DRUGS}
    assert item_codes == {i.code for i in ref.CHECKUP_ITEMS} and all(len(c) == 17 for c in item_codes)
    assert min(checkup_ages) >= 40 and max(checkup_ages) <= 74
    assert sources == {"claims", "e_prescription", "dispensing"}


def test_medication_is_about_thirty_rows_a_person_over_the_three_years_kept(seeded, django_db_blocker):
    # given the default seeding (the 3 years of history that are kept); when rows are counted per person
    with django_db_blocker.unblock():
        per_person = Counter(MedicationRecord.objects.values_list("person_id", flat=True))
        months = sorted(
            {d.replace(day=1) for d in MedicationRecord.objects.values_list("dispensed_on", flat=True)}
        )
    persons = seeded.counts["Person"]
    # then about 30 on average, with about half the persons taking nothing and a heavy tail
    assert 22 <= seeded.counts["MedicationRecord"] / persons <= 38
    assert 0.35 <= 1 - len(per_person) / persons <= 0.65
    assert max(per_person.values()) >= 150 and len(months) >= 34
