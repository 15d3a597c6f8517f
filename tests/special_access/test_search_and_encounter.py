"""The search finds one person or refuses with a code; an encounter is bounded; the brakes hold."""

import datetime

import pytest
from django.utils import timezone

from homeconsent.accounts.models import StaffRole
from homeconsent.audit.models import AccessEvent
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Person
from homeconsent.special_access import services
from homeconsent.special_access.models import EmergencyPermission

from .conftest import IN_SCOPE, make_institution, search_data

pytestmark = pytest.mark.django_db


def code_of(call):
    with pytest.raises(HomeConsentError) as refused:
        call()
    return refused.value.code


@pytest.fixture
def doctor(staff_of, hospital):
    return services.Viewer.staff(staff_of(hospital, True).membership)


def attributes(**data):
    return services.clean_search("attributes", data)


def test_attributes_match_in_one_spelling(doctor, resident):
    # given a patient registered as 試験 花子N at a full-width address
    patient = resident(address="石川県金沢市広坂１丁目１－１")
    person = patient.person
    kana = person.name_kana.replace(" ", "　")
    hiragana = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in kana)
    # when searched by kana typed in hiragana with an ideographic space and a half-width address
    found = services.do_search(
        doctor,
        "emergency",
        attributes(name=hiragana, birth_date="1948-04-02", sex="2", address="石川県金沢市広坂1丁目1-1"),
        "shock",
    )
    # then it is the one person
    assert found.person_id == person.pk


def test_ambiguous_attributes_are_refused_never_listed(doctor, resident):
    # given two persons with the same name and birth date
    first = resident().person
    twin = Person.objects.create(
        name=first.name,
        name_kana=first.name_kana,
        sex=first.sex,
        birth_date=first.birth_date,
        address="石川県金沢市本町2丁目2-2",
        address_municipality_code=IN_SCOPE,
    )
    # when searched by name and birth date only
    search = attributes(name=first.name, birth_date=first.birth_date.isoformat())
    # then the search is refused as ambiguous and nobody's data is read
    assert (
        code_of(lambda: services.do_search(doctor, "emergency", search, "unconscious"))
        == "special_access_ambiguous"
    )
    row = AccessEvent.objects.filter(detail__action="emergency_search").get()
    assert (
        row.outcome == "refused"
        and row.person_id is None
        and row.detail["refusal"] == "special_access_ambiguous"
    )
    assert row.detail["fields"] == ["name", "birth_date"]  # which fields, never their values
    # and adding the address makes it one
    search = attributes(name=first.name, birth_date=first.birth_date.isoformat(), address=twin.address)
    assert services.do_search(doctor, "emergency", search, "unconscious").person_id == twin.pk


@pytest.mark.parametrize(
    "method, data",
    [
        ("attributes", {"name": "試験 花子"}),
        ("attributes", {"birth_date": "1948-04-02", "sex": "2", "address": "石川県金沢市"}),
        ("insurer_keys", {"insurer_number": "01130012", "number": "1001", "birth_date": "1948-04-02"}),
        ("card", {}),
    ],
)
def test_a_search_needs_name_and_birth_date_or_the_full_keys(db, method, data):
    assert code_of(lambda: services.clean_search(method, data)) == "special_access_search_too_little"


def test_bad_input_gets_a_coded_message(db):
    assert code_of(lambda: services.clean_search("phone", {})) == "special_access_method_unknown"
    bad_keys = {"insurer_number": "01130013", "number": "1", "branch": "00", "birth_date": "1948-04-02"}
    assert code_of(lambda: services.clean_search("insurer_keys", bad_keys)) == "special_access_search_invalid"
    assert code_of(lambda: attributes(name="a", birth_date="1948-13-01")) == "special_access_search_invalid"
    assert (
        code_of(lambda: services.clean_reason("emergency", "other", "")) == "special_access_reason_required"
    )
    assert (
        code_of(lambda: services.clean_reason("disaster", "unconscious_ish", ""))
        == "special_access_reason_required"
    )
    assert services.clean_reason("emergency", "other", "  溺水   で搬送 ") == ("other", "溺水 で搬送")


def test_an_unregistered_card_is_refused_with_its_code(doctor, resident):
    patient = resident()
    patient.card_certificate.registered_for_insurance_use = False
    patient.card_certificate.save()
    search = services.clean_search("card", search_data(patient, "card"))
    assert (
        code_of(lambda: services.do_search(doctor, "emergency", search, "unconscious"))
        == "card_not_registered"
    )
    assert not AccessEvent.objects.filter(
        person=patient.person, outcome="ok", actor_type="institution_staff"
    ).exists()


def test_an_encounter_ends_with_its_time(doctor, resident, settings):
    patient = resident()
    encounter = services.do_search(
        doctor, "emergency", attributes(name=patient.person.name, birth_date="1948-04-02"), "unconscious"
    )
    later = encounter.expires_at + datetime.timedelta(seconds=1)
    assert (
        code_of(lambda: services.view(doctor, "emergency", encounter.token, now=later))
        == "special_access_encounter_ended"
    )
    assert services.view(doctor, "emergency", encounter.token).person == patient.person


def test_an_encounter_is_only_its_viewers(doctor, staff_of, hospital, resident):
    patient = resident()
    encounter = services.do_search(
        doctor, "emergency", services.clean_search("card", search_data(patient, "card")), "unconscious"
    )
    colleague = services.Viewer.staff(staff_of(hospital, False).membership)
    assert (
        code_of(lambda: services.view(colleague, "emergency", encounter.token))
        == "special_access_encounter_ended"
    )
    assert (
        code_of(lambda: services.view(doctor, "disaster", encounter.token))
        == "special_access_encounter_ended"
    )


def test_a_revoked_permission_stops_the_next_view(doctor, staff_of, hospital, resident):
    patient = resident()
    encounter = services.do_search(
        doctor, "emergency", services.clean_search("card", search_data(patient, "card")), "unconscious"
    )
    member = staff_of(hospital, True).membership
    admin = member.institution.console_staff.get(role=StaffRole.INSTITUTION_ADMIN)
    assert services.do_revoke_emergency_permission(member, by=admin) == 1
    assert (
        code_of(lambda: services.view(doctor, "emergency", encounter.token))
        == "special_access_encounter_ended"
    )
    refused = AccessEvent.objects.filter(person=patient.person, detail__action="emergency_view").get()
    assert refused.outcome == "refused"


def test_closing_a_scope_early_stops_the_next_view(staff_of, institutions, scopes, resident):
    patient = resident()
    pharmacist = services.Viewer.staff(staff_of(institutions["pharmacy"]).membership)
    encounter = services.do_search(
        pharmacist,
        "disaster",
        services.clean_search("attributes", search_data(patient, "attributes")),
        "oral",
    )
    assert services.view(pharmacist, "disaster", encounter.token, "medication").medication
    services.do_close_disaster_scope(scopes["inside"], by="operator:test")
    assert (
        code_of(lambda: services.view(pharmacist, "disaster", encounter.token))
        == "special_access_encounter_ended"
    )
    assert (
        code_of(lambda: services.do_close_disaster_scope(scopes["inside"], by="operator:test"))
        == "disaster_scope_closed"
    )


def test_summary_is_recent_and_detail_goes_back(doctor, resident):
    patient = resident()
    encounter = services.do_search(
        doctor, "emergency", services.clean_search("card", search_data(patient, "card")), "unconscious"
    )
    summary = services.view(doctor, "emergency", encounter.token)
    detail = services.view(doctor, "emergency", encounter.token, "medication")
    assert [m.drug_name for m in summary.medication] == ["アムロジピン錠5mg"]
    assert [m.drug_name for m in detail.medication] == ["アムロジピン錠5mg", "ワルファリンK錠1mg"]
    assert detail.treatment is None and detail.items == ["medication"]


def test_searches_are_braked_per_staff_and_per_institution(settings, staff_of, hospital, resident):
    settings.SPECIAL_ACCESS_SEARCH_LIMITS = {"actor": 2, "institution": 3}
    patient = resident()
    search = services.clean_search("card", search_data(patient, "card"))
    first = services.Viewer.staff(staff_of(hospital, True).membership)
    for _ in range(2):
        services.do_search(first, "emergency", search, "unconscious")
    assert (
        code_of(lambda: services.do_search(first, "emergency", search, "unconscious"))
        == "special_access_rate_limited"
    )
    # a colleague still has one search of the institution's three left (the refused one counted too)
    settings.SPECIAL_ACCESS_SEARCH_LIMITS = {"actor": 2, "institution": 4}
    other = make_institution("171000066", "第二病院", hospital=True)
    second = services.Viewer.staff(staff_of(hospital, False).membership)
    EmergencyPermission.objects.create(
        user_id=second.user_id, institution=hospital, granted_at=timezone.now(), granted_by="t"
    )
    services.do_search(second, "emergency", search, "unconscious")
    assert (
        code_of(lambda: services.do_search(second, "emergency", search, "unconscious"))
        == "special_access_rate_limited"
    )
    # another hospital is not affected
    third = services.Viewer.staff(staff_of(other, True).membership)
    assert services.do_search(third, "emergency", search, "unconscious").institution == other
    limited = AccessEvent.objects.filter(detail__refusal="special_access_rate_limited")
    assert limited.count() == 2 and not limited.filter(person__isnull=False).exists()


def test_only_an_admin_of_a_hospital_grants_the_permission(staff_of, institutions):
    clinic = institutions["clinic"]
    member = staff_of(clinic).membership
    admin = clinic.console_staff.get(role=StaffRole.INSTITUTION_ADMIN)
    assert (
        code_of(lambda: services.do_grant_emergency_permission(member, by=admin))
        == "emergency_permission_hospital_only"
    )
    hospital = institutions["hospital"]
    nurse = staff_of(hospital).membership
    assert (
        code_of(lambda: services.do_grant_emergency_permission(nurse, by=nurse))
        == "emergency_permission_admin_only"
    )
    assert (
        code_of(lambda: services.do_grant_emergency_permission(nurse, by=admin))
        == "emergency_permission_admin_only"
    )
    hospital_admin = hospital.console_staff.get(role=StaffRole.INSTITUTION_ADMIN)
    granted = services.do_grant_emergency_permission(nurse, by=hospital_admin)
    assert services.do_grant_emergency_permission(nurse, by=hospital_admin) == granted  # once
    row = AccessEvent.objects.filter(detail__action="emergency_permission_granted").get()
    assert (
        row.actor_id == f"staff:{hospital_admin.user.username}" and row.detail["staff"] == nurse.user.username
    )


def test_a_scope_needs_valid_codes_and_dates(db):
    today = timezone.localdate()
    with pytest.raises(HomeConsentError) as refused:
        services.do_open_disaster_scope(
            "", "171990, 17201", today, today - datetime.timedelta(days=1), by="op"
        )
    assert refused.value.code == "disaster_scope_invalid"
    message = refused.value.message("en")
    assert "171990" in message and "a name" in message and "on or after" in message
    scope = services.do_open_disaster_scope("豪雨", "172014，１７２０２２", today, today, by="op")
    assert scope.municipality_codes == ["172014", "172022"]
