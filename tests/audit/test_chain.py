import hashlib
import json
from datetime import UTC

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError

from homeconsent.audit.checkpoints import write_checkpoint
from homeconsent.audit.models import AccessEvent, ChainHead
from homeconsent.audit.services import events_for_person, record_access
from homeconsent.errors import HomeConsentError

pytestmark = pytest.mark.django_db


def read(person, **fields):
    values = {
        "actor_type": "institution_client",
        "actor_id": "client-1",
        "institution_code": "1312345678",
        "items": ["qualification", "medication"],
        "basis": "consent",
        "consent_id": 7,
    }
    return record_access(person=person, **(values | fields))


def independent_hash(event):
    """The documented canonical encoding, re-implemented here rather than imported."""
    content = {
        "v": 1,
        "chain": event.chain,
        "seq": event.seq,
        "prev_hash": event.prev_hash,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "institution_code": event.institution_code,
        "person_id": event.person_id,
        "items": event.items,
        "basis": event.basis,
        "outcome": event.outcome,
        "consent_id": event.consent_id,
        "detail": event.detail,
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def test_events_of_one_person_form_a_linked_chain(make_person):
    # given a person
    person = make_person()
    # when three accesses are recorded
    events = [read(person), read(person, outcome="refused"), read(person.pk, basis="requery")]
    # then they sit in the person's chain with consecutive sequences, each linked to the one before
    stored = list(AccessEvent.objects.filter(person=person).order_by("seq"))
    assert [e.chain for e in stored] == [person.pk % 4] * 3
    assert [e.seq for e in stored] == [1, 2, 3]
    assert stored[0].prev_hash == "0" * 64
    assert stored[1].prev_hash == stored[0].hash and stored[2].prev_hash == stored[1].hash
    assert [e.hash for e in stored] == [e.hash for e in events]
    assert all(e.hash == independent_hash(e) for e in stored)
    head = ChainHead.objects.get(chain=person.pk % 4)
    assert (head.seq, head.head_hash) == (3, stored[2].hash)


def test_chains_are_chosen_by_person_and_events_without_a_person_go_to_chain_zero(make_person):
    people = [make_person() for _ in range(4)]
    for person in people:
        read(person)
    system = record_access(actor_type="system", actor_id="import", basis="operator")
    assert sorted(AccessEvent.objects.exclude(person=None).values_list("chain", flat=True)) == [0, 1, 2, 3]
    assert (system.chain, system.person_id) == (0, None)
    # chain 0 holds the system event and the person whose id is a multiple of 4, each in turn
    assert list(AccessEvent.objects.filter(chain=0).order_by("seq").values_list("seq", flat=True)) == [1, 2]


def test_the_event_is_written_in_the_callers_transaction(make_person):
    person = make_person()
    # when the action fails after recording its access
    with pytest.raises(RuntimeError), transaction.atomic():
        read(person)
        raise RuntimeError("the action failed")
    # then neither the event nor the head advance survives, and the chain starts afresh
    assert not AccessEvent.objects.exists()
    assert read(person).seq == 1


def test_fields_are_stored_as_given(make_person):
    person = make_person()
    event = read(person, detail={"endpoint": "/api/v1/eligibility", "count": 2, "tags": ("a", "b")})
    stored = AccessEvent.objects.get(pk=event.pk)
    assert stored.items == ["qualification", "medication"]
    assert (stored.basis, stored.outcome, stored.consent_id, stored.institution_code) == (
        "consent",
        "ok",
        "7",
        "1312345678",
    )
    assert stored.detail == {"endpoint": "/api/v1/eligibility", "count": 2, "tags": ["a", "b"]}
    assert stored.hash == independent_hash(stored)


@pytest.mark.parametrize(
    "fields",
    [
        {"basis": "curiosity"},
        {"outcome": "maybe"},
        {"actor_type": "stranger"},
        {"detail": {"ratio": 0.5}},
        {"detail": {"blob": "x" * 5000}},
        {"institution_code": "12345678901"},
    ],
)
def test_invalid_events_are_refused_before_anything_is_written(make_person, fields):
    with pytest.raises(ValueError):
        read(make_person(), **fields)
    assert not AccessEvent.objects.exists()


def test_events_for_person_lists_only_that_persons_events_newest_first(make_person):
    alice, bob = make_person(), make_person()
    first, _, last = read(alice), read(bob), read(alice, outcome="not_found")
    assert [e.pk for e in events_for_person(alice)] == [last.pk, first.pk]
    assert [e.pk for e in events_for_person(alice.pk)] == [last.pk, first.pk]


def test_the_model_refuses_changes_and_deletions(make_person):
    event = read(make_person())
    event.outcome = "refused"
    for attempt in (
        event.save,
        event.delete,
        lambda: AccessEvent.objects.filter(pk=event.pk).update(outcome="refused"),
        lambda: AccessEvent.objects.all().delete(),
        lambda: AccessEvent.objects.bulk_update([event], ["outcome"]),
        lambda: AccessEvent.objects.bulk_create([AccessEvent(chain=0, seq=99)]),
        # rows that bypass record_access would carry no chain: refused as well
        lambda: AccessEvent.objects.create(
            chain=0, seq=99, actor_type="system", actor_id="x", basis="operator"
        ),
    ):
        with pytest.raises(HomeConsentError) as refused:
            attempt()
        assert refused.value.code == "audit_append_only"
    assert AccessEvent.objects.get().outcome == "ok"


def test_the_base_manager_refuses_changes_too(make_person):
    # given a logged access and a checkpoint
    event = read(make_person())
    checkpoint, _ = write_checkpoint()
    # when code goes through Django's base manager (as Django's own internals do), then it is refused
    for attempt in (
        lambda: AccessEvent._base_manager.filter(pk=event.pk).update(outcome="refused"),
        lambda: AccessEvent._base_manager.filter(pk=event.pk).delete(),
        lambda: type(checkpoint)._base_manager.filter(pk=checkpoint.pk).update(signature=""),
    ):
        with pytest.raises(HomeConsentError) as refused:
            attempt()
        assert refused.value.code == "audit_append_only"
    assert AccessEvent.objects.get().outcome == "ok"


def test_a_person_with_logged_accesses_cannot_be_deleted(make_person):
    person = make_person()
    read(person)
    with pytest.raises(ProtectedError):
        person.delete()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_accessevent SET outcome = 'refused' WHERE id = %s",
        "DELETE FROM audit_accessevent WHERE id = %s",
    ],
)
def test_postgresql_refuses_raw_updates_and_deletes(make_person, sql):
    event = read(make_person())
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event.pk])
    assert "audit_append_only" in str(refused.value)
    assert AccessEvent.objects.get(pk=event.pk).outcome == "ok"


@pytest.mark.postgres
def test_postgresql_refuses_raw_changes_to_checkpoints(make_person):
    read(make_person())
    checkpoint, _ = write_checkpoint()
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_checkpoint SET signature = '' WHERE id = %s", [checkpoint.pk])
    assert "audit_append_only" in str(refused.value)
