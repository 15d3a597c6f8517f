# ruff: noqa: S608 - the SQL names only our own tables, partitions and columns; values go as parameters
"""PostgreSQL: the access log as one range partition per month of occurred_at (Japan time).

Months are what retention drops, so they are the partitions: an expired month goes with DETACH and
DROP, never with row deletes the append-only trigger refuses. Appends only touch the current month.

- Keys. A partitioned table's unique constraints must contain the partition key, so in the database
  the primary key is (id, occurred_at) and the chain constraint (chain, seq, occurred_at) under its
  old name. Django keeps seeing `id` as the primary key: ids come from one sequence and a row is
  never updated, so `id` stays unique; (chain, seq) stays unique because appends to a chain are
  serialised by the row lock on its ChainHead and each takes the head's seq + 1, and verification
  checks every chain is gapless and without repeats. Nothing may reference the table by a foreign
  key (it would need a unique id alone); notices keep event ids without a database constraint.
- Months ahead. migrate and `manage.py partition_access_log` (daily, from cron) create the partitions
  of this month and AUDIT_PARTITION_MONTHS_AHEAD months after it. A DEFAULT partition takes any row
  whose month has none, so a write never fails; ensure_partitions drains it (below).
- Append-only. The trigger is defined on the partitioned table: PostgreSQL clones it onto every
  partition, including partitions created or attached later, and refuses UPDATE and DELETE on each.
"""

import datetime

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from . import months
from .models import AccessEvent

TABLE = AccessEvent._meta.db_table
DEFAULT = f"{TABLE}_default"
SEQUENCE = f"{TABLE}_id_seq"
CHAIN_CONSTRAINT = "audit_event_chain_seq_unique"
TRIGGER = (
    f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
)


class PartitionError(RuntimeError):
    pass


def partition_name(month: datetime.date) -> str:
    return f"{TABLE}_p{month:%Y%m}"


def is_partitioned(connection) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [TABLE])
        return cursor.fetchone() is not None


def month_partitions(connection) -> dict[datetime.date, str]:
    """The month partitions attached now, by month (the DEFAULT partition is not one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) AND c.relname <> %s",
            [TABLE, DEFAULT],
        )
        names = [name for (name,) in cursor.fetchall()]
    prefix = f"{TABLE}_p"
    return {
        datetime.date(int(name[-6:-2]), int(name[-2:]), 1): name
        for name in names
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    }


def _create(cursor, month: datetime.date, parent: str = TABLE) -> None:
    start, end = months.start_of(month), months.start_of(months.next_month(month))
    # Bounds are our own datetimes: DDL takes no parameters.
    cursor.execute(
        f"CREATE TABLE {partition_name(month)} PARTITION OF {parent} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def _wanted(now: datetime.datetime, ahead: int | None) -> list[datetime.date]:
    ahead = settings.AUDIT_PARTITION_MONTHS_AHEAD if ahead is None else ahead
    first = months.month_of(now)
    last = first
    for _ in range(ahead):
        last = months.next_month(last)
    return months.months_from(first, last)


def _columns() -> str:
    return ", ".join(f'"{f.column}"' for f in AccessEvent._meta.concrete_fields)


def _stray_months(cursor, table: str) -> list[datetime.date]:
    cursor.execute(
        f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE %s)::date FROM {table}",
        [settings.TIME_ZONE],
    )
    return sorted(month for (month,) in cursor.fetchall())


def ensure_partitions(
    *, using: str | None = None, now: datetime.datetime | None = None, ahead: int | None = None
) -> list[datetime.date]:
    """Create the partitions of this month and the next `ahead` (AUDIT_PARTITION_MONTHS_AHEAD),
    and drain the DEFAULT partition; returns the months created. Nothing on other back ends.

    Draining: rows in DEFAULT (a month that had no partition yet) cannot be moved by DELETE, which
    the trigger refuses. So DEFAULT is detached, a new empty DEFAULT takes its place, the missing
    months are created, and its rows are inserted again through the partitioned table (same ids,
    same content, so the same hashes) before the old DEFAULT is dropped; one transaction, which
    holds appends only while DEFAULT had rows."""
    using = using or router.db_for_write(AccessEvent)
    connection = connections[using]
    if not is_partitioned(connection):
        return []
    wanted = _wanted(now or timezone.now(), ahead)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        existing = month_partitions(connection)
        stray = _stray_months(cursor, DEFAULT)
        draining = f"{TABLE}_draining"
        if stray:
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {DEFAULT}")
            cursor.execute(f"ALTER TABLE {DEFAULT} RENAME TO {draining}")
            cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT")
        created = sorted((set(wanted) | set(stray)) - set(existing))
        for month in created:
            _create(cursor, month)
        if stray:
            _move_rows(cursor, draining, TABLE)
            # Rows that reached DEFAULT in this very transaction still have their deferred foreign-key
            # checks queued on it: run them now (Django's constraints are deferred again after).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"DROP TABLE {draining}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return created


def drop_month(month: datetime.date, *, using: str | None = None) -> None:
    """Detach and drop one month's partition (retention; the caller has checked it may go)."""
    using = using or router.db_for_write(AccessEvent)
    connection = connections[using]
    name = month_partitions(connection).get(month)
    if name is None:
        raise PartitionError(f"no partition for {months.label(month)}")
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
        cursor.execute(f"DROP TABLE {name}")


# --- the migration: a plain table into a partitioned one, and back -------------------------------
def _definitions(cursor, table: str) -> tuple[list, list]:
    """(foreign keys, plain indexes) of a table as SQL, to define again on its successor."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    foreign_keys = [
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}" for name, definition in cursor.fetchall()
    ]
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [table],
    )
    indexes = [definition for (definition,) in cursor.fetchall()]
    return foreign_keys, indexes


def _refuse_references(cursor) -> None:
    cursor.execute(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE confrelid = %s::regclass",
        [TABLE],
    )
    references = cursor.fetchall()
    if references:
        named = ", ".join(f"{table}.{name}" for table, name in references)
        raise PartitionError(f"foreign keys reference {TABLE} ({named}): drop them before partitioning")


def _move_rows(cursor, source: str, target: str) -> None:
    columns = _columns()
    cursor.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source}")
    moved = cursor.rowcount
    cursor.execute(f"SELECT count(*) FROM {source}")
    if cursor.fetchone()[0] != moved:
        raise PartitionError(f"copying {source} into {target}: row counts differ")


def partition_table(connection, now: datetime.datetime | None = None) -> None:
    """Turn the plain access-log table into the partitioned one, rows included (migration)."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        _refuse_references(cursor)
        foreign_keys, indexes = _definitions(cursor, TABLE)
        new = f"{TABLE}_partitioned"
        cursor.execute(
            f"CREATE TABLE {new} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
            "PARTITION BY RANGE (occurred_at)"
        )
        wanted = _wanted(now or timezone.now(), None)
        for month in sorted(set(wanted) | set(_stray_months(cursor, TABLE))):
            _create(cursor, month, parent=new)
        cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {new} DEFAULT")
        _move_rows(cursor, TABLE, new)
        cursor.execute(f"DROP TABLE {TABLE}")  # its identity sequence and trigger go with it
        cursor.execute(f"ALTER TABLE {new} RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, occurred_at)")
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {CHAIN_CONSTRAINT} UNIQUE (chain, seq, occurred_at)"
        )
        for statement in indexes + foreign_keys:
            cursor.execute(statement)
        # PostgreSQL 15 has no identity columns on partitioned tables: a sequence owned by the column.
        cursor.execute(f"CREATE SEQUENCE {SEQUENCE} OWNED BY {TABLE}.id")
        cursor.execute(f"SELECT setval('{SEQUENCE}', coalesce(max(id), 0) + 1, false) FROM {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{SEQUENCE}')")
        cursor.execute(TRIGGER)


def unpartition_table(connection) -> None:
    """The migration's reverse: one plain table again, rows included."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        foreign_keys, indexes = _definitions(cursor, TABLE)
        plain = f"{TABLE}_plain"
        cursor.execute(f"CREATE TABLE {plain} (LIKE {TABLE} INCLUDING CONSTRAINTS)")
        _move_rows(cursor, TABLE, plain)
        cursor.execute(f"DROP TABLE {TABLE}")  # with its partitions and sequence
        cursor.execute(f"ALTER TABLE {plain} RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), coalesce(max(id), 0) + 1, false) FROM {TABLE}"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {CHAIN_CONSTRAINT} UNIQUE (chain, seq)")
        for statement in indexes + foreign_keys:
            cursor.execute(statement.replace(" ONLY ", " "))
        cursor.execute(TRIGGER)
