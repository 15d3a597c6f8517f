"""Month seals: a month checked alone against its signed seal, runs of a chain that straddle a month
boundary, and the full verification counting each sealed month's rows (every back end)."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from homeconsent.audit import checkpoints, partitions, seals
from homeconsent.audit.models import AccessEvent, MonthSeal
from homeconsent.audit.verification import verify_log
from homeconsent.errors import HomeConsentError

from .conftest import tamper

pytestmark = pytest.mark.django_db
JST = ZoneInfo("Asia/Tokyo")
OCTOBER, NOVEMBER = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)


def at(month, day, hour=12, minute=0):
    return datetime.datetime(month.year, month.month, day, hour, minute, tzinfo=JST)


@pytest.fixture
def two_months(make_person, record_at):
    """Three people (chains 1, 2, 3 of 4) with reads in October and November 2026: each chain runs
    across the two months (and their partitions on PostgreSQL)."""
    people = []
    while len(people) < 3:
        person = make_person()
        if person.pk % 4 and person.pk % 4 not in {p.pk % 4 for p in people}:
            people.append(person)
    for day in (3, 17):
        for person in people:
            record_at(at(OCTOBER, day), person)
    for person in people[:2]:
        record_at(at(NOVEMBER, 30, 23, 59), person)
    partitions.ensure_partitions()  # PostgreSQL: October and November move out of DEFAULT into their own
    return people


def trusted():
    return checkpoints.signing_key().public_key()


def test_each_ended_month_is_sealed_once_and_checks_alone(two_months):
    # given two months of log; when the ended months are sealed
    sealed = seals.seal_ended_months()
    # then October and November have signed seals counting their rows per chain, and files beside them
    assert [s.month for s in sealed][:2] == [OCTOBER, NOVEMBER]
    october = MonthSeal.objects.get(month=OCTOBER).payload
    assert sorted(entry["rows"] for entry in october["chains"]) == [2, 2, 2]
    assert all(len(e["entries"]) == len(e["exits"]) == 1 for e in october["chains"])
    assert all(e["entries"][0] == [1, "0" * 64] for e in october["chains"])
    assert seals.seal_ended_months() == []  # nothing sealed twice
    for month in (OCTOBER, NOVEMBER):
        check = seals.verify_month(month, trusted())
        assert check.ok, check.broken
    assert seals.verify_month(OCTOBER, trusted()).total == 6
    assert verify_log().ok


def test_a_changed_row_breaks_its_month_and_the_full_verification(two_months):
    seals.seal_ended_months()
    row = AccessEvent.objects.filter(occurred_at__lt=at(NOVEMBER, 1, 0)).order_by("id").first()
    # when an attacker past the trigger rewrites an October row
    tamper("UPDATE audit_accessevent SET actor_id = 'someone-else' WHERE id = %s", [row.pk])
    # then October alone is broken at that row, November is still sound
    check = seals.verify_month(OCTOBER, trusted())
    assert (check.broken.check, check.broken.id) == ("content_hash", row.pk)
    assert seals.verify_month(NOVEMBER, trusted()).ok
    assert not verify_log().ok


def test_a_removed_row_of_a_sealed_month_is_found(two_months):
    seals.seal_ended_months()
    # when the last October row of a chain is removed, October alone no longer matches its seal
    last = AccessEvent.objects.filter(occurred_at__lt=at(NOVEMBER, 1, 0)).order_by("-chain", "-seq").first()
    tamper("DELETE FROM audit_accessevent WHERE id = %s", [last.pk])
    check = seals.verify_month(OCTOBER, trusted())
    assert (check.broken.check, check.broken.chain) == ("seal", last.chain)
    assert not verify_log().ok


def test_a_forged_seal_is_refused(two_months):
    seals.seal_ended_months()
    # when someone with database access raises a count in October's seal
    if connection.vendor == "postgresql":
        tamper("UPDATE audit_monthseal SET payload = jsonb_set(payload, '{chains,0,rows}', '7')")
    else:
        tamper("UPDATE audit_monthseal SET payload = json_set(payload, '$.chains[0].rows', 7)")
    # then its signature no longer verifies, alone or in the full verification
    check = seals.verify_month(OCTOBER, trusted())
    assert check.broken.check == "seal" and "signature does not verify" in check.broken.message
    assert verify_log().broken.check == "seal"


def test_a_chain_run_straddling_midnight_is_sealed_with_every_entry_and_exit(make_person, record_at):
    # given a writer that took its time at 23:59:59 on 30 November but appended after another writer
    # that took 00:00:00 on 1 December: seq 2 is in December, seq 3 back in November
    person = make_person()
    first = record_at(at(NOVEMBER, 30, 22), person)
    second = record_at(datetime.datetime(2026, 12, 1, 0, 0, 0, tzinfo=JST), person)
    third = record_at(datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=JST), person)
    seal = seals.seal_month(NOVEMBER, now=datetime.datetime(2026, 12, 2, tzinfo=JST))
    # then November's seal names both runs of the chain: 1 and 3
    [entry] = seal.payload["chains"]
    assert entry["rows"] == 2
    assert entry["entries"] == [[1, "0" * 64], [3, second.hash]]
    assert entry["exits"] == [[1, first.hash], [3, third.hash]]
    assert seals.verify_month(NOVEMBER, trusted()).ok
    assert verify_log().ok


def test_a_month_is_sealed_only_an_hour_after_it_ends(two_months):
    this_month = timezone.localdate().replace(day=1)
    with pytest.raises(HomeConsentError) as refused:
        seals.seal_month(this_month)
    assert refused.value.code == "audit_month_not_sealable"
    assert not MonthSeal.objects.filter(month=this_month).exists()


def test_seals_are_append_only(two_months):
    [seal, *_] = seals.seal_ended_months()
    for attempt in (seal.save, seal.delete, lambda: MonthSeal.objects.all().delete()):
        with pytest.raises(HomeConsentError) as refused:
            attempt()
        assert refused.value.code == "audit_append_only"
