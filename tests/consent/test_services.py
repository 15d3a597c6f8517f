"""Consent services over real card proofs: the virtual card signs the challenge through APDUs."""

import base64
import datetime
import random

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.db import IntegrityError, transaction
from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import events_for_person
from homeconsent.consent.challenges import issue_challenge, verify_card_authentication
from homeconsent.consent.models import Consent, ConsentStatus
from homeconsent.consent.rules import TOKYO, start_of_day
from homeconsent.consent.services import (
    active_consents,
    consent_for_read,
    consents_for_read,
    consents_of_institution,
    do_cancel_all,
    do_cancel_consent,
    do_register_consent,
    do_set_consent_end,
    grants_for_read,
    issue_consent_challenge,
)
from homeconsent.errors import HomeConsentError
from homeconsent.jpki.card import VirtualJPKICard
from homeconsent.jpki.pki import issue_virtual_card
from homeconsent.registry.models import Insurer, Person, Qualification
from tests.cards import card_answer

from .conftest import PIN, Patient, prove

HOME = "home_visit"
TELE = "telehealth"


def register(patient, institution, kind=HOME, items=("medication",), **terms):
    challenge = issue_consent_challenge(institution, kind=kind, items=items, **terms)
    return do_register_consent(prove(patient, challenge), kind=kind, items=items, **terms)


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(HomeConsentError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def today():
    return timezone.now().astimezone(TOKYO).date()


# --- registering ----------------------------------------------------------------------------------
def test_a_card_proved_consent_is_stored_with_its_proof_and_its_access_log_entry(
    db, institution, tmp_path, consent_pki, settings
):
    # given a person with a virtual card issued and registered in one step by the test PKI
    settings.JPKI_PKI_DIR = consent_pki.directory
    person = Person.objects.create(
        name="佐藤 花子", name_kana="サトウ ハナコ", sex="2", birth_date=datetime.date(1948, 4, 2)
    )
    insurer = Insurer.objects.create(
        number="06130017", name="東洋商事健康保険組合", kind="kumiai", prefecture="13"
    )
    Qualification.objects.create(
        person=person,
        insurer=insurer,
        number="77",
        branch="00",
        personal_family="1",
        acquired_on=datetime.date(2021, 4, 1),
        contribution_ratio="020",
    )
    issued = issue_virtual_card(person, PIN, tmp_path / "cards")
    patient = Patient(person, VirtualJPKICard.load(issued.path), issued.card_certificate)
    challenge = issue_consent_challenge(institution, kind=HOME, items=["medication", "treatment"])

    # when the card answers and the server registers
    consent = do_register_consent(prove(patient, challenge), kind=HOME, items=["treatment", "medication"])

    # then the consent holds the terms and the proof, which still verifies against the card's key
    consent.refresh_from_db()
    assert (consent.person, consent.institution, consent.kind) == (person, institution, HOME)
    assert consent.items == ["medication", "qualification", "treatment"]
    assert consent.available_until is None and consent.status == ConsentStatus.ACTIVE
    assert consent.challenge == challenge and consent.card_certificate == issued.card_certificate
    key = x509.load_der_x509_certificate(bytes(issued.card_certificate.certificate_der)).public_key()
    key.verify(base64.b64decode(consent.signature), challenge.message(), padding.PKCS1v15(), hashes.SHA256())
    entry = events_for_person(person).get(detail__action="consent_registered")
    assert entry.consent_id == str(consent.pk) and entry.institution_code == institution.code
    assert entry.items == consent.items and entry.basis == "consent" and entry.actor_type == "patient"


def test_consent_and_access_log_entry_commit_together_or_not_at_all(patient, institution):
    # given a proof, and a caller whose transaction fails after the registration
    verified = prove(patient, issue_consent_challenge(institution, kind=HOME, items=["medication"]))
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            do_register_consent(verified, kind=HOME, items=["medication"])
            raise RuntimeError("the page failed after registering")
    # then neither the consent nor its log entry exists
    assert not Consent.objects.exists()
    assert not AccessEvent.objects.filter(detail__action="consent_registered").exists()


def test_a_failing_log_entry_rolls_the_consent_back(patient, institution):
    verified = prove(patient, issue_consent_challenge(institution, kind=HOME, items=["medication"]))
    # an actor type the access log refuses: record_access fails after the consent row was written
    with pytest.raises(ValueError):
        do_register_consent(verified, kind=HOME, items=["medication"], actor_type="robot")
    assert not Consent.objects.exists()


def test_an_update_supersedes_the_active_consent_and_keeps_the_history(patient, institution):
    first = register(patient, institution, items=["medication"])
    second = register(patient, institution, items=["medication", "checkup"])

    first.refresh_from_db()
    assert first.status == ConsentStatus.SUPERSEDED and first.superseded_by == second
    assert first.ended_by == "superseded" and first.ended_at == second.given_at
    assert list(Consent.objects.filter(person=patient.person, status="active")) == [second]
    assert Consent.objects.filter(person=patient.person).count() == 2
    assert consent_for_read(institution.code, patient.person, "checkup") == second


def test_consents_of_other_kinds_or_institutions_are_not_superseded(patient, institution, other_institution):
    home = register(patient, institution)
    tele = register(patient, institution, kind=TELE, visit_date=today())
    elsewhere = register(patient, other_institution)
    assert set(active_consents(patient.person)) == {home, tele, elsewhere}


def test_the_same_proof_registers_one_consent_only(patient, institution):
    verified = prove(patient, issue_consent_challenge(institution, kind=HOME, items=["medication"]))
    do_register_consent(verified, kind=HOME, items=["medication"])
    assert refusal(do_register_consent, verified, kind=HOME, items=["medication"]) == "consent_proof_used"
    assert Consent.objects.count() == 1


# --- refusals: the signature binds the terms ------------------------------------------------------
@pytest.mark.parametrize(
    "signed, registered, field",
    [
        (
            {"kind": HOME, "items": ["medication"]},
            {"kind": HOME, "items": ["medication", "treatment"]},
            "items",
        ),
        ({"kind": HOME, "items": ["medication"]}, {"kind": "disaster", "items": ["medication"]}, "kind"),
        (
            {"kind": TELE, "items": [], "visit_date": "today"},
            {"kind": TELE, "items": [], "visit_date": "tomorrow"},
            "visit_date",
        ),
        (
            {"kind": HOME, "items": [], "available_until": "next_month"},
            {"kind": HOME, "items": []},
            "available_until",
        ),
    ],
)
def test_terms_other_than_the_signed_ones_are_refused(patient, institution, signed, registered, field):
    days = {
        "today": today(),
        "tomorrow": today() + datetime.timedelta(days=1),
        "next_month": today() + datetime.timedelta(days=30),
    }
    for terms in (signed, registered):
        for name in ("visit_date", "available_until"):
            if name in terms:
                terms[name] = days[terms[name]]
    verified = prove(patient, issue_consent_challenge(institution, **signed))
    with pytest.raises(HomeConsentError) as caught:
        do_register_consent(verified, **registered)
    assert caught.value.code == "consent_proof_mismatch" and caught.value.params == {"field": field}
    assert not Consent.objects.exists()


def test_a_proof_for_another_institution_is_refused(patient, institution, other_institution):
    verified = prove(patient, issue_consent_challenge(institution, kind=HOME, items=["medication"]))
    with pytest.raises(HomeConsentError) as caught:
        do_register_consent(verified, kind=HOME, items=["medication"], institution=other_institution)
    assert caught.value.code == "consent_proof_mismatch" and caught.value.params == {"field": "institution"}


def test_a_card_authentication_made_for_another_purpose_cannot_register_consent(patient, institution):
    challenge = issue_challenge(
        "qualification_only", institution, ["qualification"], kind="qualification_only"
    )
    certificate, signature = card_answer(patient.card, challenge.digest_info(), PIN)
    verified = verify_card_authentication(challenge.nonce, certificate, signature, "qualification_only")
    code = refusal(do_register_consent, verified, kind="qualification_only", items=["qualification"])
    assert code == "consent_proof_not_for_consent"


def test_a_person_without_a_valid_qualification_today_is_refused(make_patient, institution):
    lapsed = make_patient(lost_on=datetime.date(2024, 12, 1))
    verified = prove(lapsed, issue_consent_challenge(institution, kind=HOME, items=["medication"]))
    assert refusal(do_register_consent, verified, kind=HOME, items=["medication"]) == "no_valid_qualification"
    assert not Consent.objects.exists()


@pytest.mark.parametrize(
    "terms, code",
    [
        ({"kind": HOME, "items": ["x-ray"]}, "consent_item_unknown"),
        ({"kind": "outpatient", "items": []}, "consent_kind_unknown"),
        ({"kind": TELE, "items": []}, "visit_date_required"),
        ({"kind": TELE, "items": [], "visit_date": datetime.date(2020, 1, 6)}, "visit_date_past"),
        (
            {"kind": TELE, "items": [], "visit_date": datetime.date.today() + datetime.timedelta(days=92)},
            "visit_date_too_far",
        ),
        ({"kind": HOME, "items": [], "visit_date": datetime.date(2030, 1, 6)}, "visit_date_not_for_kind"),
        ({"kind": "qualification_only", "items": ["medication"]}, "consent_items_medical_not_allowed"),
        ({"kind": HOME, "items": [], "available_until": datetime.date(2020, 1, 6)}, "available_until_past"),
    ],
)
def test_invalid_terms_are_refused_before_the_card_is_asked(institution, terms, code):
    assert refusal(issue_consent_challenge, institution, **terms) == code


def test_a_qualification_only_institution_gets_no_medical_items(institution):
    institution.qualification_only = True
    institution.save()
    code = refusal(issue_consent_challenge, institution, kind=HOME, items=["medication"])
    assert code == "consent_items_medical_not_allowed"
    challenge = issue_consent_challenge(institution, kind=HOME, items=["limit_certificate"])
    assert challenge.items == ["limit_certificate", "qualification"]


# --- time -----------------------------------------------------------------------------------------
def test_a_telehealth_consent_holds_through_the_visit_date_in_tokyo_and_not_after(patient, institution):
    visit = today() + datetime.timedelta(days=1)
    consent = register(patient, institution, kind=TELE, items=["medication"], visit_date=visit)

    assert consent.available_until == start_of_day(visit + datetime.timedelta(days=1))
    last_moment = start_of_day(visit + datetime.timedelta(days=1)) - datetime.timedelta(seconds=1)
    assert consent_for_read(institution.code, patient.person, "medication", on=last_moment) == consent
    assert consent_for_read(institution.code, patient.person, "medication", on=visit) == consent
    after = start_of_day(visit + datetime.timedelta(days=1))
    assert consent_for_read(institution.code, patient.person, "medication", on=after) is None
    assert (
        consent_for_read(
            institution.code, patient.person, "medication", on=visit + datetime.timedelta(days=1)
        )
        is None
    )
    # expiry is read, not written: the row still says active, and reads as expired after the date
    assert consent.status == ConsentStatus.ACTIVE
    assert consent.effective_status(after) == ConsentStatus.EXPIRED
    assert list(active_consents(patient.person, on=after)) == []


def test_a_home_visit_consent_lasts_until_the_end_date_the_institution_set(patient, institution):
    end = today() + datetime.timedelta(days=90)
    consent = register(patient, institution, items=["treatment"], available_until=end)
    assert consent_for_read(institution.code, patient.person, "treatment", on=end) == consent
    assert (
        consent_for_read(institution.code, patient.person, "treatment", on=end + datetime.timedelta(days=1))
        is None
    )
    open_ended = register(patient, institution, items=["treatment"])
    assert (
        consent_for_read(
            institution.code, patient.person, "treatment", on=end + datetime.timedelta(days=3650)
        )
        == open_ended
    )


def test_an_expired_consent_replaced_later_is_recorded_as_expired(patient, institution):
    first = register(patient, institution, items=["medication"], available_until=today())
    later = timezone.now() + datetime.timedelta(days=2)
    challenge = issue_consent_challenge(institution, kind=HOME, items=["medication"])
    second = do_register_consent(prove(patient, challenge), kind=HOME, items=["medication"], now=later)
    first.refresh_from_db()
    assert first.superseded_by == second and first.ended_by == "expired"
    assert first.ended_at == first.available_until


# --- telehealth: one consent per booked visit ---------------------------------------------------------
def test_two_booked_telehealth_visits_keep_their_own_consents(patient, institution):
    # given a visit next week and one in a month at the same clinic
    soon, later = today() + datetime.timedelta(days=7), today() + datetime.timedelta(days=30)
    first = register(patient, institution, kind=TELE, items=["medication"], visit_date=soon)
    # when the patient consents for the second visit
    second = register(patient, institution, kind=TELE, items=["medication", "treatment"], visit_date=later)
    # then both stay active, each holding through its own visit date
    first.refresh_from_db()
    assert first.status == ConsentStatus.ACTIVE and first.superseded_by is None
    assert set(active_consents(patient.person)) == {first, second}
    assert consent_for_read(institution.code, patient.person, "medication") == first  # the nearest visit
    assert consent_for_read(institution.code, patient.person, "medication", on=soon) == first
    assert consent_for_read(institution.code, patient.person, "medication", on=later) == second
    assert (
        consent_for_read(institution.code, patient.person, "treatment", on=soon) == second
    )  # only it has it
    after_first = soon + datetime.timedelta(days=1)
    assert consent_for_read(institution.code, patient.person, "medication", on=after_first) == second
    assert consents_for_read(institution.code, [patient.person.pk], "medication", on=later) == {
        patient.person.pk: second
    }
    assert set(consents_of_institution(institution, TELE)) == {first, second}


def test_consenting_again_for_the_same_visit_supersedes_only_that_visits_consent(patient, institution):
    soon, later = today() + datetime.timedelta(days=7), today() + datetime.timedelta(days=30)
    first = register(patient, institution, kind=TELE, items=["medication"], visit_date=soon)
    other_visit = register(patient, institution, kind=TELE, items=["medication"], visit_date=later)

    again = register(patient, institution, kind=TELE, items=["medication", "checkup"], visit_date=soon)

    first.refresh_from_db()
    other_visit.refresh_from_db()
    assert first.status == ConsentStatus.SUPERSEDED and first.superseded_by == again
    assert first.ended_by == "superseded" and first.ended_at == again.given_at
    assert other_visit.status == ConsentStatus.ACTIVE and other_visit.superseded_by is None
    assert set(active_consents(patient.person)) == {again, other_visit}
    logged = AccessEvent.objects.get(detail__action="consent_registered", consent_id=str(again.pk))
    assert logged.detail["supersedes"] == first.pk


def test_cancel_all_ends_the_consents_of_every_booked_visit(patient, institution):
    soon, later = today() + datetime.timedelta(days=7), today() + datetime.timedelta(days=30)
    first = register(patient, institution, kind=TELE, visit_date=soon)
    second = register(patient, institution, kind=TELE, visit_date=later)

    cancelled = do_cancel_all(patient.person, by="institution", actor_id="staff-1", institution=institution)

    assert {c.pk for c in cancelled} == {first.pk, second.pk}
    assert list(active_consents(patient.person)) == []
    assert consent_for_read(institution.code, patient.person, "medication", on=later) is None


def test_the_database_keeps_one_active_telehealth_consent_per_visit_and_one_per_other_kind(
    patient, institution
):
    visit = today() + datetime.timedelta(days=7)
    tele = register(patient, institution, kind=TELE, visit_date=visit)
    home = register(patient, institution)
    row = {
        "person": patient.person,
        "institution": institution,
        "items": ["qualification"],
        "given_at": timezone.now(),
    }
    # another visit date and a cancelled row of the same visit are allowed
    Consent.objects.create(kind=TELE, visit_date=visit + datetime.timedelta(days=1), **row)
    Consent.objects.create(kind=TELE, visit_date=visit, status=ConsentStatus.CANCELLED, **row)
    # a second active row for the same visit, or of the same other kind, is not (whatever its visit_date)
    for duplicate in (
        {"kind": TELE, "visit_date": tele.visit_date},
        {"kind": HOME},
        {"kind": HOME, "visit_date": visit},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Consent.objects.create(**duplicate, **row)
    assert Consent.objects.filter(kind=HOME, status="active").get() == home


# --- the read check -------------------------------------------------------------------------------
def test_consent_for_read_allows_exactly_the_consented_items_to_exactly_that_institution(
    patient, institution, other_institution
):
    consent = register(patient, institution, items=["medication", "limit_certificate"])
    code = institution.code
    assert consent_for_read(code, patient.person, "qualification") == consent
    assert consent_for_read(code, patient.person, "medication") == consent
    assert consent_for_read(code, patient.person, "limit_certificate") == consent
    assert consent_for_read(code, patient.person, "treatment") is None
    assert consent_for_read(code, patient.person, "checkup") is None
    assert consent_for_read(other_institution.code, patient.person, "medication") is None
    assert consent_for_read(code, patient.person.pk, "medication") == consent
    assert refusal(consent_for_read, code, patient.person, "genome") == "consent_item_unknown"


def test_a_qualification_only_consent_never_allows_medical_reads(patient, institution):
    register(patient, institution, kind="qualification_only", items=[])
    assert consent_for_read(institution.code, patient.person, "qualification") is not None
    assert consent_for_read(institution.code, patient.person, "medication") is None


def test_consent_for_read_does_not_reach_back_before_the_consent(patient, institution):
    before = timezone.now() - datetime.timedelta(minutes=1)
    register(patient, institution)
    assert consent_for_read(institution.code, patient.person, "medication", on=before) is None


# --- cancelling -----------------------------------------------------------------------------------
def test_a_cancelled_consent_stops_allowing_reads_at_once(patient, institution):
    consent = register(patient, institution)
    assert consent_for_read(institution.code, patient.person, "medication") == consent

    do_cancel_consent(consent, by="patient", actor_id=f"person:{patient.person.pk}")

    assert consent_for_read(institution.code, patient.person, "medication") is None
    consent.refresh_from_db()
    assert (consent.status, consent.ended_by) == ("cancelled", "patient") and consent.ended_at
    entry = AccessEvent.objects.get(detail__action="consent_cancelled")
    assert entry.consent_id == str(consent.pk) and entry.actor_type == "patient"
    assert refusal(do_cancel_consent, consent, by="patient", actor_id="x") == "consent_not_active"


def test_an_institution_cancels_only_its_own_consents(patient, institution, other_institution):
    consent = register(patient, institution)
    code = refusal(
        do_cancel_consent, consent, by="institution", actor_id="staff-7", institution=other_institution
    )
    assert code == "consent_not_of_institution"
    assert (
        refusal(do_cancel_consent, consent, by="institution", actor_id="staff-7")
        == "consent_cancel_institution_required"
    )
    assert (
        refusal(do_cancel_consent, consent, by="someone", actor_id="staff-7") == "consent_cancel_by_unknown"
    )

    do_cancel_consent(consent, by="institution", actor_id="staff-7", institution=institution)
    consent.refresh_from_db()
    assert consent.ended_by == "institution"
    assert AccessEvent.objects.get(detail__action="consent_cancelled").actor_type == "institution_staff"


def test_cancel_all_ends_every_consent_in_force_and_keeps_the_history(
    patient, make_patient, institution, other_institution
):
    bystander = make_patient(card=1)
    old = register(patient, institution, items=["checkup"])
    home = register(patient, institution)
    tele = register(patient, other_institution, kind=TELE, visit_date=today())
    theirs = register(bystander, institution)

    cancelled = do_cancel_all(patient.person, by="patient", actor_id=f"person:{patient.person.pk}")

    assert {c.pk for c in cancelled} == {home.pk, tele.pk}
    assert list(active_consents(patient.person)) == []
    assert consent_for_read(other_institution.code, patient.person, "qualification") is None
    old.refresh_from_db()
    assert old.status == "superseded"  # history is not rewritten
    assert list(active_consents(bystander.person)) == [theirs]
    assert AccessEvent.objects.filter(detail__action="consent_cancelled").count() == 2


def test_an_institution_cancel_all_touches_only_that_institution(patient, institution, other_institution):
    register(patient, institution)
    elsewhere = register(patient, other_institution)
    do_cancel_all(patient.person, by="institution", actor_id="staff-1", institution=institution)
    assert list(active_consents(patient.person)) == [elsewhere]


def test_consents_of_institution_filters_by_kind_and_dates(patient, make_patient, institution):
    other = make_patient(card=1)
    home = register(patient, institution)
    tomorrow = today() + datetime.timedelta(days=1)
    tele = register(other, institution, kind=TELE, visit_date=tomorrow)

    assert list(consents_of_institution(institution)) == [tele, home]
    assert list(consents_of_institution(institution, kind=HOME)) == [home]
    assert list(consents_of_institution(institution, visit_from=tomorrow, visit_to=tomorrow)) == [tele]
    assert list(consents_of_institution(institution, given_from=today(), given_to=today())) == [tele, home]
    assert list(consents_of_institution(institution, given_to=today() - datetime.timedelta(days=1))) == []
    do_cancel_consent(home, by="patient", actor_id="p")
    assert list(consents_of_institution(institution, on=timezone.now())) == [tele]


# --- events -----------------------------------------------------------------------------------------
def receive_all(layer, channel):
    messages = []
    queue = layer.channels.get(channel)
    while queue is not None and not queue.empty():
        messages.append(async_to_sync(layer.receive)(channel))
    return messages


def test_events_go_to_the_institutions_group_only_after_commit(
    patient, institution, other_institution, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    mine = async_to_sync(layer.new_channel)()
    theirs = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"institution.{institution.code}", mine)
    async_to_sync(layer.group_add)(f"institution.{other_institution.code}", theirs)
    verified = prove(patient, issue_consent_challenge(institution, kind=HOME, items=["medication"]))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        consent = do_register_consent(verified, kind=HOME, items=["medication"])
    assert receive_all(layer, mine) == []  # not before commit
    for callback in callbacks:
        callback()

    [event] = receive_all(layer, mine)
    assert event["type"] == "consent.event" and event["event"] == "registered"
    assert (event["consent_id"], event["person_id"], event["kind"]) == (consent.pk, patient.person.pk, HOME)
    assert event["items"] == ["medication", "qualification"] and event["at"]
    assert receive_all(layer, theirs) == []

    with django_capture_on_commit_callbacks(execute=True):
        do_cancel_consent(consent, by="patient", actor_id="p")
    [event] = receive_all(layer, mine)
    assert event["event"] == "cancelled" and event["consent_id"] == consent.pk


def test_a_rolled_back_registration_publishes_nothing(
    patient, institution, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    mine = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"institution.{institution.code}", mine)
    verified = prove(patient, issue_consent_challenge(institution, kind=HOME, items=["medication"]))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(ValueError):
            do_register_consent(verified, kind=HOME, items=["medication"], actor_type="robot")
    assert callbacks == [] and receive_all(layer, mine) == []


def test_consents_for_read_checks_many_persons_at_once(patient, make_patient, institution):
    other, nobody = make_patient(card=1), make_patient(card=2)
    home = register(patient, institution, items=["medication"])
    tele = register(other, institution, kind=TELE, items=["medication"], visit_date=today())
    people = [patient.person.pk, other.person.pk, nobody.person.pk]

    assert consents_for_read(institution.code, people, "medication") == {
        patient.person.pk: home,
        other.person.pk: tele,
    }
    assert consents_for_read(institution.code, people, "medication", kind=TELE) == {other.person.pk: tele}
    assert consents_for_read(institution.code, people, "treatment") == {}
    assert consent_for_read(institution.code, patient.person, "medication", kind=TELE) is None


def test_grants_for_read_answers_as_consents_for_read(institution, other_institution):
    # given persons with consents in every state, written directly: active, cancelled, held until a
    # later end, expiring, not given yet, telehealth visits, other items, another institution
    chance = random.Random(11)
    now = timezone.now()
    day = datetime.timedelta(days=1)
    persons = [
        Person.objects.create(name=f"試験 {n}", sex="1", birth_date=datetime.date(1950, 1, 1))
        for n in range(40)
    ]
    item_sets = [
        ["qualification"],
        ["medication", "qualification"],
        ["limit_certificate", "qualification"],
        [],
    ]
    active = set()  # (one active consent per person, institution and kind, or telehealth visit)
    for person in persons:
        for _ in range(chance.randint(0, 4)):
            kind = chance.choice([HOME, TELE])
            where = chance.choice([institution, institution, other_institution])
            visit = today() + chance.choice([-1, 0, 2, 5]) * day if kind == TELE else None
            ended = chance.choice([None, None, now - day, now + day])
            if ended is None and (person, where, kind, visit) in active:
                ended = now + day
            if ended is None:
                active.add((person, where, kind, visit))
            Consent.objects.create(
                person=person,
                institution=where,
                kind=kind,
                items=chance.choice(item_sets),
                given_at=now + chance.choice([-30, -2, -1, 1]) * day,
                available_until=chance.choice([None, now - day, now + 3 * day]),
                visit_date=visit,
                status=ConsentStatus.ACTIVE if ended is None else chance.choice(["cancelled", "superseded"]),
                ended_at=ended,
            )
    ids = [p.pk for p in persons] + [max(p.pk for p in persons) + 1]

    # when both answer for every item, kind and moment or day
    for item in ("qualification", "medication", "limit_certificate"):
        for kind in (None, HOME, TELE):
            for on in (None, today(), today() + 2 * day, now - 3 * day / 2):
                full = consents_for_read(institution.code, ids, item, on, kind=kind)
                grants = grants_for_read(institution.code, ids, item, on, kind=kind)

                # then the same persons, consents and items
                assert {p: (c.pk, c.items) for p, c in full.items()} == {
                    p: (g.pk, g.items) for p, g in grants.items()
                }
    assert grants_for_read(institution.code, ids[:1] + ids[-1:], "qualification") == {
        p: (c.pk, c.items) for p, c in consents_for_read(institution.code, ids[:1], "qualification").items()
    }
    assert grants_for_read(institution.code, [], "qualification") == {}
    answered = consents_for_read(institution.code, ids, "qualification")
    assert 5 < len(answered) < len(persons)


# --- ending earlier ---------------------------------------------------------------------------------
def test_the_institution_brings_a_home_visit_consents_end_forward(
    patient, institution, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    mine = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"institution.{institution.code}", mine)
    consent = register(patient, institution)
    end = today() + datetime.timedelta(days=30)
    with django_capture_on_commit_callbacks(execute=True):
        do_set_consent_end(consent, end, institution=institution, actor_id="staff:7")
    consent.refresh_from_db()
    assert consent.available_until == start_of_day(end + datetime.timedelta(days=1))
    entry = AccessEvent.objects.get(detail__action="consent_end_set")
    assert (
        entry.actor_id == "staff:7"
        and entry.consent_id == str(consent.pk)
        and entry.detail["previous_until"] is None
    )
    assert [e["event"] for e in receive_all(layer, mine)][-1] == "end_set"
    # the consent still allows reads before that day ends, and not after
    assert consent_for_read(institution.code, patient.person, "medication", on=end) == consent
    assert (
        consent_for_read(institution.code, patient.person, "medication", on=end + datetime.timedelta(days=1))
        is None
    )


def test_an_end_can_only_be_brought_forward_never_extended(patient, institution):
    consent = register(patient, institution, available_until=today() + datetime.timedelta(days=10))
    later = today() + datetime.timedelta(days=20)
    assert (
        refusal(do_set_consent_end, consent, later, institution=institution, actor_id="s")
        == "consent_end_not_shorter"
    )
    assert (
        refusal(
            do_set_consent_end,
            consent,
            today() - datetime.timedelta(days=1),
            institution=institution,
            actor_id="s",
        )
        == "available_until_past"
    )
    consent.refresh_from_db()
    assert consent.available_until == start_of_day(today() + datetime.timedelta(days=11))
    assert not AccessEvent.objects.filter(detail__action="consent_end_set").exists()


def test_only_the_consents_institution_sets_an_end_and_only_for_home_visits(
    patient, institution, other_institution
):
    home = register(patient, institution)
    tele = register(patient, institution, kind=TELE, visit_date=today())
    end = today() + datetime.timedelta(days=3)
    assert (
        refusal(do_set_consent_end, home, end, institution=other_institution, actor_id="s")
        == "consent_not_of_institution"
    )
    assert (
        refusal(do_set_consent_end, tele, end, institution=institution, actor_id="s")
        == "consent_end_not_for_kind"
    )
    do_cancel_consent(home, by="patient", actor_id="p")
    assert (
        refusal(do_set_consent_end, home, end, institution=institution, actor_id="s") == "consent_not_active"
    )
