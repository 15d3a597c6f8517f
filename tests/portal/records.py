"""Records of every kind for one person, shared by the portal's view tests and browser tests."""

import datetime
from decimal import Decimal

from django.utils import timezone

from homeconsent.registry.models import CheckupResult, ExpenseNotice, MedicationRecord, TreatmentRecord


def add_records(person, clinic, pharmacy, tag):
    """Records of every kind for `person`; `tag` marks names so a leak to another person shows."""
    today = timezone.localdate()
    month = today.replace(day=1)
    previous = (month - datetime.timedelta(days=1)).replace(day=1)
    for source, day, name in [
        ("claims", previous.replace(day=10), f"アムロジピン錠5mg{tag}"),
        ("e_prescription", month, f"メトホルミン錠250mg{tag}"),
        ("dispensing", month, f"ロスバスタチン錠2.5mg{tag}"),
    ]:
        MedicationRecord.objects.create(
            person=person,
            source=source,
            dispensed_on=day,
            prescribed_on=day,
            dispensing_institution=pharmacy,
            prescribing_institution=clinic,
            drug_code="610463093",
            drug_name=name,
            ingredient_name="成分",
            quantity=Decimal("1"),
            unit="錠",
            usage="1日1回朝食後",
            days=28,
        )
    TreatmentRecord.objects.create(
        person=person,
        institution=clinic,
        treated_on=month,
        procedure_code="114001110",
        procedure_name=f"在宅患者訪問診療料{tag}",
    )
    values = {
        "9N011000000000001": ["24.1", "24.8", "25.3"],
        "9A751000000000001": ["128", "134", "131"],
        "9A761000000000001": ["82", "86", "84"],
        "3D046000001906202": ["5.6", "5.9", "6.1"],
        "3F077000002327101": ["138", "142", "129"],
        "1A020000000191111": ["−", "−", "±"],
    }
    names = {
        "9N011000000000001": ("BMI", "kg/m2"),
        "9A751000000000001": ("収縮期血圧（その他）", "mmHg"),
        "9A761000000000001": ("拡張期血圧（その他）", "mmHg"),
        "3D046000001906202": ("HbA1c（NGSP）", "%"),
        "3F077000002327101": ("LDLコレステロール", "mg/dl"),
        "1A020000000191111": ("尿糖", ""),
    }
    for index, year in enumerate([today.year - 2, today.year - 1, today.year]):
        day = (
            datetime.date(year, 5, 20) if datetime.date(year, 5, 20) <= today else datetime.date(year, 1, 15)
        )
        for code, series in values.items():
            CheckupResult.objects.create(
                person=person,
                checked_on=day,
                institution_name=f"健診センター{tag}",
                item_code=code,
                item_name=names[code][0],
                value=series[index],
                unit=names[code][1],
            )
    year = today.year
    rows = [
        (1, clinic, "医科入院外", 2, 15600, 4680),
        (1, pharmacy, "調剤", 1, 8420, 2526),
        (2, clinic, "医科入院外", 1, 7100, 2130),
    ]
    for month_no, institution, kind, days, total, paid in rows:
        ExpenseNotice.objects.create(
            person=person,
            month=datetime.date(year, month_no, 1),
            institution=institution,
            institution_name=institution.name + tag,
            care_kind=kind,
            days=days,
            total_cost=total,
            patient_paid=paid,
        )
    ExpenseNotice.objects.create(
        person=person,
        month=datetime.date(year - 1, 12, 1),
        institution=clinic,
        institution_name=clinic.name + tag,
        care_kind="医科入院外",
        days=1,
        total_cost=9999,
        patient_paid=2999,
    )
