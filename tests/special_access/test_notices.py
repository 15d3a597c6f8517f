"""お知らせ: a first read by an institution, an emergency view and a disaster view each make a
notice, pending until the patient acknowledges it."""

import pytest

from homeconsent.audit.services import record_access
from homeconsent.notices import services as notices
from homeconsent.special_access import services

from .conftest import search_data

pytestmark = pytest.mark.django_db


def consent_read(institution, person, client="client-1"):
    return record_access(
        actor_type="institution_client",
        actor_id=client,
        institution_code=institution.code,
        person=person,
        items=["qualification"],
        basis="consent",
        consent_id=1,
        detail={"read": "eligibility"},
    )


def test_notices_for_new_institutions_and_special_views(institutions, staff_of, scopes, resident):
    patient = resident()
    person = patient.person
    clinic, hospital, pharmacy = institutions["clinic"], institutions["hospital"], institutions["pharmacy"]
    # given two consent reads by the clinic, and a refused one by the pharmacy
    first = consent_read(clinic, person)
    consent_read(clinic, person)
    record_access(
        actor_type="institution_client",
        actor_id="x",
        institution_code=pharmacy.code,
        person=person,
        items=["qualification"],
        basis="requery",
        outcome="refused",
    )
    assert [(n.event.pk, n.kind) for n in notices.notices_for(person)] == [(first.pk, "new_institution")]
    # when a hospital views in an emergency and a pharmacy in disaster mode
    doctor = services.Viewer.staff(staff_of(hospital, True).membership)
    encounter = services.do_search(
        doctor, "emergency", services.clean_search("card", search_data(patient, "card")), "unconscious"
    )
    services.view(doctor, "emergency", encounter.token)
    services.view(doctor, "emergency", encounter.token, "medication")
    pharmacist = services.Viewer.staff(staff_of(pharmacy).membership)
    encounter = services.do_search(
        pharmacist, "disaster", services.clean_search("card", search_data(patient, "card")), "oral"
    )
    services.view(pharmacist, "disaster", encounter.token)
    # then: each view is a notice, and each institution's first read (the searches) too
    kinds = [n.kind for n in notices.notices_for(person)]
    assert kinds == [
        "disaster",
        "new_institution",
        "emergency",
        "emergency",
        "new_institution",
        "new_institution",
    ]
    assert notices.pending_count(person) == 6
    # and acknowledging clears them from the pending list, once, with a log row of the patient
    assert notices.do_acknowledge(person) == 6
    assert notices.pending_count(person) == 0 and notices.do_acknowledge(person) == 0
    assert all(n.acknowledged for n in notices.notices_for(person))
    # a later emergency view is a new pending notice
    services.view(doctor, "emergency", doctor_encounter(doctor, patient).token)
    assert [n.kind for n in notices.notices_for(person, pending_only=True)] == ["emergency"]


def doctor_encounter(doctor, patient):
    from homeconsent.special_access.models import Encounter

    return Encounter.objects.filter(actor_id=doctor.actor_id, person=patient.person).latest("pk")


def test_a_patient_acknowledges_only_their_own_notices(institutions, resident):
    a, b = resident(card=0).person, resident(card=1).person
    event = consent_read(institutions["clinic"], a)
    assert notices.do_acknowledge(b, [event.pk]) == 0
    assert notices.pending_count(a) == 1
    assert notices.do_acknowledge(a, [event.pk]) == 1
