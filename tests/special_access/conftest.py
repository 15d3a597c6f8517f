"""Institutions of every type with console staff, patients with real virtual cards living in or out
of disaster scopes, and medical records to read."""

import datetime

import pytest
from django.utils import timezone

from homeconsent.accounts.models import StaffRole
from homeconsent.consent import rules
from homeconsent.registry.codes import municipality_code, with_check_digit
from homeconsent.registry.models import CheckupResult, Institution, MedicationRecord, TreatmentRecord
from homeconsent.special_access import services
from homeconsent.special_access.models import DisasterScope, EmergencyPermission
from tests.consent.conftest import card_pool, consent_pki, consent_settings, insurer, make_patient  # noqa: F401

# The console's fixtures (staff with password + TOTP) and the consent helpers' (cards, patients).
from tests.console.conftest import make_staff  # noqa: F401

IN_SCOPE = municipality_code("17201")  # 金沢市
OUTSIDE = municipality_code("13104")  # 新宿区
LATER = municipality_code("17202")  # 七尾市: listed by a scope that starts tomorrow
ENDED = municipality_code("17203")  # 小松市: listed by a scope that ended yesterday
CLOSED = municipality_code("17204")  # 輪島市: listed by a scope closed early


@pytest.fixture(autouse=True)
def roomy_limits(settings):
    settings.SPECIAL_ACCESS_SEARCH_LIMITS = {"actor": 10_000, "institution": 10_000}
    return settings


def make_institution(digits: str, name: str, *, hospital=False, qualification_only=False) -> Institution:
    return Institution.objects.create(
        code=with_check_digit(digits), name=name, hospital=hospital, qualification_only=qualification_only
    )


@pytest.fixture
def institutions(db):
    return {
        "hospital": make_institution("171000011", "金沢中央病院", hospital=True),
        "clinic": make_institution("171000022", "みなと内科クリニック"),
        "pharmacy": make_institution("174000033", "さくら薬局"),
        "nursing": make_institution("176000044", "ひまわり訪問看護ステーション"),
    }


@pytest.fixture
def hospital(institutions):
    return institutions["hospital"]


@pytest.fixture
def staff_of(make_staff):  # noqa: F811
    """staff_of(institution, permitted): a staff member; permitted ones hold an emergency permission
    (granted by the admin at a hospital; written directly elsewhere, as if the rules were bypassed)."""
    made = {}

    def make(institution, permitted=False):
        key = (institution.code, permitted)
        if key not in made:
            admin = made.get((institution.code, "admin"))
            if admin is None:
                admin = made[(institution.code, "admin")] = make_staff(
                    institution, f"admin{institution.code}"
                )
            member = make_staff(
                institution, f"{'er' if permitted else 'st'}{institution.code}", StaffRole.STAFF
            )
            if permitted:
                if institution.hospital:
                    services.do_grant_emergency_permission(member.membership, by=admin.membership)
                else:
                    EmergencyPermission.objects.create(
                        user=member.membership.user,
                        institution=institution,
                        granted_at=timezone.now(),
                        granted_by="test",
                    )
            made[key] = member
        return made[key]

    return make


def give_records(person):
    today = rules.today()
    MedicationRecord.objects.create(
        person=person,
        source="dispensing",
        dispensed_on=today - datetime.timedelta(days=3),
        drug_code="620000001",
        drug_name="アムロジピン錠5mg",
        quantity=1,
        unit="錠",
    )
    MedicationRecord.objects.create(
        person=person,
        source="claims",
        dispensed_on=today - datetime.timedelta(days=400),
        drug_code="620000002",
        drug_name="ワルファリンK錠1mg",
        quantity=2,
        unit="錠",
    )
    TreatmentRecord.objects.create(
        person=person,
        treated_on=today - datetime.timedelta(days=10),
        procedure_code="150000110",
        procedure_name="虫垂切除術",
    )
    CheckupResult.objects.create(
        person=person,
        checked_on=today - datetime.timedelta(days=100),
        item_code="3D046000001920402",
        item_name="HbA1c",
        value="6.1",
        unit="%",
    )


@pytest.fixture
def scopes(db):
    today = rules.today()
    day = datetime.timedelta(days=1)
    open_ = services.do_open_disaster_scope(
        "令和8年能登半島地震", [IN_SCOPE], today - day, today + 6 * day, by="operator:test"
    )
    later = services.do_open_disaster_scope("予定", [LATER], today + day, today + 7 * day, by="operator:test")
    ended = DisasterScope.objects.create(
        name="終了済み",
        municipality_codes=[ENDED],
        starts_on=today - 8 * day,
        ends_on=today - day,
        opened_at=timezone.now(),
        opened_by="operator:test",
    )
    closed = services.do_open_disaster_scope(
        "早期終了", [CLOSED], today - day, today + 6 * day, by="operator:test"
    )
    services.do_close_disaster_scope(closed, by="operator:test")
    return {"inside": open_, "later": later, "ended": ended, "closed": closed}


@pytest.fixture
def resident(make_patient):  # noqa: F811
    """resident(code, address=...): a patient with a registered card living in that municipality."""

    def make(code=IN_SCOPE, address="石川県金沢市広坂1丁目1-1", **options):
        patient = make_patient(**options)
        person = patient.person
        person.address, person.address_municipality_code = address, code
        person.save(update_fields=["address", "address_municipality_code"])
        give_records(person)
        return patient

    return make


def search_data(patient, method):
    person = patient.person
    if method == "card":
        return {"certificate_der": patient.card.auth_cert_der}
    if method == "attributes":
        return {
            "name": person.name,
            "birth_date": person.birth_date.isoformat(),
            "sex": person.sex,
            "address": person.address,
        }
    q = person.qualifications.get()
    return {
        "insurer_number": q.insurer.number,
        "symbol": q.symbol,
        "number": q.number,
        "branch": q.branch,
        "birth_date": person.birth_date.isoformat(),
    }
