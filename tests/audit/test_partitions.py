"""The access log partitioned by month on PostgreSQL: the migration moves existing rows, the
append-only trigger holds on old and new partitions, the DEFAULT partition is drained, and expired
months are dropped while the chains still verify from their seals."""

import datetime
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from homeconsent.audit import partitions
from homeconsent.audit.checkpoints import write_checkpoint
from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import record_access
from homeconsent.audit.verification import verify_chain_tail, verify_log

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
JST = ZoneInfo("Asia/Tokyo")


def at(year, month, day=15):
    return datetime.datetime(year, month, day, 12, tzinfo=JST)


def where(event) -> str:
    """The table (partition) holding a row."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM audit_accessevent WHERE id = %s", [event.pk])
        return cursor.fetchone()[0]


def refused(sql, params) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as error:
        return "audit_append_only" in str(error)
    return False


def read(person):
    return record_access(
        actor_type="institution_client",
        actor_id="client-1",
        person=person,
        basis="consent",
        items=["qualification"],
    )


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_existing_rows_into_month_partitions(make_person, record_at):
    executor = MigrationExecutor(connection)
    executor.migrate([("audit", "0006_month_seal")])  # the plain table, as before this release
    try:
        assert not partitions.is_partitioned(connection)
        person = make_person()
        written = [record_at(at(2026, 9), person), record_at(at(2026, 10), person), read(person)]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate([("audit", "0007_partitioned_by_month")])
    # then every row is in its month's partition with the same id and hash, and the chain verifies
    assert partitions.is_partitioned(connection)
    assert [where(e) for e in written[:2]] == ["audit_accessevent_p202609", "audit_accessevent_p202610"]
    assert where(written[2]) == partitions.partition_name(written[2].occurred_at.astimezone(JST).date())
    stored = AccessEvent.objects.order_by("seq").values_list("id", "hash")
    assert list(stored) == [(e.pk, e.hash) for e in written]
    assert verify_log().ok
    # and appends go on with new ids, refused changes included
    later = read(person)
    assert later.pk > written[-1].pk and later.seq == 4
    assert refused("DELETE FROM audit_accessevent WHERE id = %s", [written[0].pk])


def test_updates_and_deletes_are_refused_on_old_and_new_partitions(make_person, record_at):
    person = make_person()
    old = record_at(at(2026, 10), person)
    partitions.ensure_partitions()  # drains October out of DEFAULT into its own partition
    created = partitions.ensure_partitions(ahead=8)  # partitions made after the migration
    assert created
    new = record_at(at(created[-1].year, created[-1].month), person)
    assert where(old) == "audit_accessevent_p202610" and where(new) == partitions.partition_name(created[-1])
    for event in (old, new):
        for table in ("audit_accessevent", where(event)):
            assert refused(f"UPDATE {table} SET outcome = 'refused' WHERE id = %s", [event.pk])
            assert refused(f"DELETE FROM {table} WHERE id = %s", [event.pk])
    assert list(AccessEvent.objects.order_by("id").values_list("outcome", flat=True)) == ["ok", "ok"]


def test_a_row_without_its_months_partition_lands_in_default_and_is_drained(make_person, record_at):
    person = make_person()
    before = read(person)
    far = at(2031, 5)
    # when a row's month has no partition yet, the write still succeeds, into DEFAULT
    stray = record_at(far, person)
    assert where(stray) == partitions.DEFAULT
    # then ensure_partitions creates the month and moves the row there, unchanged
    created = partitions.ensure_partitions()
    assert datetime.date(2031, 5, 1) in created
    assert where(stray) == "audit_accessevent_p203105"
    assert AccessEvent.objects.get(pk=stray.pk).hash == stray.hash
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitions.DEFAULT}")
        assert cursor.fetchone()[0] == 0
    assert refused("UPDATE audit_accessevent_p203105 SET outcome = 'refused' WHERE id = %s", [stray.pk])
    assert verify_log().ok and before.seq + 1 == stray.seq


def test_expired_months_are_dropped_and_the_chains_verify_from_their_seals(settings, make_person, record_at):
    settings.AUDIT_RETENTION_YEARS = 1
    # given a person read in March 2025 and again now, and one read only in March 2025
    kept, gone = make_person(), make_person()
    while gone.pk % 4 == kept.pk % 4:
        gone = make_person()
    for person in (kept, gone):
        record_at(at(2025, 3), person)
        record_at(at(2025, 3, 20), person)
    partitions.ensure_partitions()
    recent = read(kept)
    write_checkpoint()
    # when the daily command runs with --expire
    out = io.StringIO()
    call_command("partition_access_log", "--expire", stdout=out)
    # then March 2025 is sealed, checked against its seal and dropped
    assert (
        "2025-03 expired: 4 events checked against its seal, audit_accessevent_p202503 dropped"
        in out.getvalue()
    )
    assert datetime.date(2025, 3, 1) not in partitions.month_partitions(connection)
    assert list(AccessEvent.objects.values_list("id", flat=True)) == [recent.pk]
    # and the full verification, the tail check and a new checkpoint accept the chains resuming after it
    report = verify_log()
    assert report.ok, report.broken
    assert report.chains[kept.pk % 4].expired == 2
    assert any("2025-03: expired and dropped" in note for note in report.checkpoint_notes)
    assert verify_chain_tail(kept.pk % 4, bound=10).ok
    assert verify_chain_tail(gone.pk % 4, bound=10).ok
    write_checkpoint()
    assert verify_log().ok


def test_dropping_a_month_still_in_retention_is_found(make_person, record_at):
    person = make_person()
    record_at(at(2026, 10), person)
    partitions.ensure_partitions()
    read(person)
    call_command("partition_access_log", stdout=io.StringIO())  # seals October
    # when someone drops October although its five years are not over
    partitions.drop_month(datetime.date(2026, 10, 1))
    report = verify_log()
    assert (report.broken.check, report.broken.chain) == ("sequence", person.pk % 4)
