"""record_accesses: many events in one go, under the same chain rules as record_access."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import record_access, record_accesses
from homeconsent.audit.verification import verify_log

pytestmark = pytest.mark.django_db


def entry(person, **extra):
    return {
        "actor_type": "institution_client",
        "actor_id": "client-1",
        "institution_code": "1312345670",
        "person": person,
        "items": ["qualification"],
        "basis": "consent",
        "consent_id": 7,
        "detail": {"read": "batch"},
        **extra,
    }


def test_bulk_events_chain_on_from_single_ones_and_the_log_verifies(make_person):
    # given persons on several chains, and events already appended one by one
    persons = [make_person() for _ in range(9)]
    record_access(**entry(persons[0]))
    record_access(**entry(persons[5], outcome="refused"))

    # when many events are appended in one call, then single ones again
    written = record_accesses([entry(p) for p in persons] + [entry(None, items=["api_client"])])
    record_access(**entry(persons[1]))

    # then every chain continues without a gap and the whole log verifies
    assert written == 10
    assert AccessEvent.objects.count() == 13
    report = verify_log()
    assert report.broken is None, report.broken
    for chain in AccessEvent.objects.values_list("chain", flat=True).distinct():
        seqs = list(AccessEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))


def test_bulk_events_keep_their_given_order_within_a_chain(make_person):
    person = make_person()
    record_accesses([entry(person, detail={"index": i}) for i in range(5)])

    rows = AccessEvent.objects.filter(person=person).order_by("seq")
    assert [row.detail["index"] for row in rows] == [0, 1, 2, 3, 4]
    assert all(row.prev_hash == previous.hash for previous, row in zip(rows, list(rows)[1:]))


def test_bulk_queries_do_not_grow_with_the_number_of_events(make_person):
    persons = [make_person() for _ in range(8)]
    record_accesses([entry(p) for p in persons])  # every chain has its head now

    with CaptureQueriesContext(connection) as few:
        record_accesses([entry(p) for p in persons])
    with CaptureQueriesContext(connection) as many:
        record_accesses([entry(persons[i % 8]) for i in range(3000)])

    assert len(many) == len(few)
    assert AccessEvent.objects.count() == 3016
    assert verify_log().broken is None


def test_a_bad_entry_refuses_the_whole_call_and_writes_nothing(make_person):
    person = make_person()
    with pytest.raises(ValueError):
        record_accesses([entry(person), entry(person, basis="curiosity")])
    assert AccessEvent.objects.count() == 0
