"""Bulk loading on PostgreSQL: COPY instead of INSERT, and secondary indexes built once at the end.

The seeder builds model instances either way; here they are streamed with psycopg's `cursor.copy`
(COPY ... FROM STDIN), which PostgreSQL ingests several times faster than multi-row INSERTs.
Primary keys that children need (persons, qualifications) are reserved from the table's sequence
first, so instances carry their ids exactly as `bulk_create` leaves them.
"""

import operator
from contextlib import contextmanager

from django.db import connection, models, transaction
from django.db.models.base import ModelState

# Field types whose Python value is also the value to store, so COPY can take them as they are.
# Anything else (JSON, custom fields) would need get_db_prep_save: refused rather than mis-written.
_PLAIN = (
    models.AutoField,
    models.BigAutoField,
    models.BooleanField,
    models.CharField,
    models.DateField,  # DateTimeField too
    models.DecimalField,
    models.ForeignKey,
    models.IntegerField,  # and its positive/small variants
    models.TextField,
)


def instance(model, **values):
    """model(**values) without Model.__init__, whose keyword handling is most of a seeder's time at
    tens of millions of rows: the fields' defaults, then `values` by attname (person_id, not person).
    The same instance otherwise, for bulk_create as for COPY."""
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = {f.attname: f.get_default() for f in model._meta.concrete_fields}
    obj = model.__new__(model)
    obj._state = ModelState()
    obj.__dict__.update(defaults)
    obj.__dict__.update(values)
    return obj


_DEFAULTS = {}


def _columns(model, with_pk: bool):
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    odd = [f.name for f in fields if not isinstance(f, _PLAIN)]
    if odd:
        raise TypeError(f"{model.__name__}: COPY cannot write {', '.join(odd)} as they are")
    return fields


def reserve_ids(model, objs) -> None:
    """Give each instance the next id of its table's sequence, in order."""
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk


def copy_rows(model, objs, *, with_ids: bool = False) -> None:
    """Write the instances with one COPY; `with_ids` reserves their primary keys first (else the
    column default numbers them). Like bulk_create: auto_now fields are filled, no signals."""
    if not objs:
        return
    if with_ids:
        reserve_ids(model, objs)
    fields = _columns(model, with_pk=with_ids)
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                field.pre_save(obj, add=True)
    row = operator.attrgetter(*(f.attname for f in fields))
    quote = connection.ops.quote_name
    sql = "COPY {} ({}) FROM STDIN".format(
        quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
    )
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row(row(obj))
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias


def _secondary(cursor, table: str):
    """(foreign keys, indexes) of a table as (name, definition): everything but the primary key and
    unique indexes, which keep guarding the data while it loads."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT i.indisunique ORDER BY c.relname",
        [table],
    )
    return foreign_keys, cursor.fetchall()


@contextmanager
def deferred_indexes(tables):
    """Drop the foreign keys and secondary indexes of `tables` (PostgreSQL), and build them again
    when the block ends, also when it fails. Building an index once over the loaded rows costs a
    fraction of maintaining it row by row, and checking a foreign key once is one join instead of a
    trigger per row. Meant for loading a registry that nothing else reads meanwhile."""
    if connection.vendor != "postgresql":
        yield
        return
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        saved = [(table, *_secondary(cursor, table)) for table in tables]
        for table, foreign_keys, indexes in saved:
            for name, _ in foreign_keys:
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {quote(name)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            try:
                for table, foreign_keys, indexes in saved:
                    with transaction.atomic():
                        for _, definition in indexes:
                            cursor.execute(definition)
                        for name, definition in foreign_keys:
                            cursor.execute(
                                f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
                            )
            finally:
                cursor.execute("RESET maintenance_work_mem")


def secondary_definitions(tables) -> dict:
    """The foreign keys and secondary indexes of `tables` as definitions (for checks and tests)."""
    with connection.cursor() as cursor:
        return {table: _secondary(cursor, table) for table in tables}
