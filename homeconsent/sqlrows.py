"""Hand-written SELECTs for the per-request read path of the institutions' API.

One eligibility check runs a handful of small indexed queries; building each with the ORM (filters,
Q trees, ordering, compilation) costs several times what the database spends running it. The few
hot queries are therefore written once as SQL, and their rows become model instances with the
ORM's own converters (dates and JSON on SQLite, aware datetimes), so the instances behave exactly
like fetched ones. Columns left out are deferred: reading one loads it, as with .only().
"""

import functools
from contextlib import contextmanager

import psycopg
from django.db import connections


class Columns:
    """Some concrete fields of one model: their SQL column list, and rows → instances."""

    def __init__(self, model, names=None, *, exclude=()):
        meta = model._meta
        wanted = set(names) if names is not None else None
        # from_db takes the values in concrete-field order.
        self.model = model
        self.fields = [
            f
            for f in meta.concrete_fields
            if (wanted is None or f.name in wanted or f.attname in wanted) and f.name not in exclude
        ]
        self.attnames = [f.attname for f in self.fields]
        self._converters = {}

    def __len__(self):
        return len(self.fields)

    def sql(self, alias: str, connection) -> str:
        q = connection.ops.quote_name
        return ", ".join(f"{q(alias)}.{q(f.column)}" for f in self.fields)

    def nulls(self, connection) -> str:
        """NULLs typed as these columns (a UNION ALL padding them must agree on types on PostgreSQL)."""
        return ", ".join(f"CAST(NULL AS {f.cast_db_type(connection)})" for f in self.fields)

    def _converters_for(self, connection):
        converters = self._converters.get(connection.alias)
        if converters is None:
            converters = []
            for f in self.fields:
                col = f.get_col(self.model._meta.db_table)
                converters.append(
                    (col, connection.ops.get_db_converters(col) + f.get_db_converters(connection))
                )
            self._converters[connection.alias] = converters
        return converters

    def instance(self, row, connection, start: int = 0):
        """The model instance of row[start : start + len(self)]."""
        values = list(row[start : start + len(self.fields)])
        for i, (col, converters) in enumerate(self._converters_for(connection)):
            value = values[i]
            for convert in converters:
                value = convert(value, col, connection)
            values[i] = value
        return self.model.from_db(connection.alias, self.attnames, values)


def per_connection(build):
    """build(connection, *args) made once per database alias (and args), then reused: SQL text
    depends on the back end (quoting, casts, FOR UPDATE) but not on the request. The decorated
    function's forget() drops what it made (a test that points an alias at another back end)."""
    made = {}

    @functools.wraps(build)
    def cached(connection, *args):
        key = (connection.alias,) + args if args else connection.alias
        value = made.get(key)
        if value is None:
            value = made[key] = build(connection, *args)
        return value

    cached.forget = made.clear
    return cached


def table(model, connection) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def array_literal(values, quoted: bool = False) -> str:
    """A PostgreSQL array literal of texts, sent as one text parameter and cast (`%s::text[]`);
    psycopg would dump a list value by value in Python (slow for a batch's 10,000 keys). `quoted`:
    any text, each in double quotes, escaped; else texts with no comma, brace, quote, backslash or
    blank, not empty and not NULL in any case, such as numbers, ISO dates and t/f."""
    if not quoted:
        return "{" + ",".join(values) + "}"
    values = list(values)
    if not values:
        return "{}"
    text = '","'.join(values)
    if '"' in text or "\\" in text:  # rare: escape each value (inside quotes only " and \ are special)
        text = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + text + '"}'


def fetch(using: str, sql: str, params) -> list:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextmanager
def bound_cursor(connection, *, prepare=False):
    """A cursor whose parameters travel apart from the statement (server-side binding) on
    PostgreSQL; Django's own cursor elsewhere. Django's psycopg cursor binds on the client,
    quoting every value into the SQL text in Python: for statements carrying thousands of values
    or large JSON that costs more than the database's work (the batch pre-check's writes). It is
    still Django's cursor wrapper: execute wrappers, query logging and error translation apply.

    prepare=True: psycopg prepares each statement on its first run on this connection, so later
    runs skip PostgreSQL's parsing and planning (the eligibility UNION ALL plans in ~3-5 ms and runs
    in 0.5). Django's own cursor never prepares, whatever OPTIONS["prepare_threshold"] says: it
    binds on the client, where psycopg has no statement to prepare. For the fixed hot statements
    only: each distinct SQL text stays prepared on the connection (psycopg keeps at most 100)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    # Django's query log (DEBUG, assertNumQueries) reads the statement back from psycopg, which keeps
    # no text for a prepared one: a logged connection runs it unprepared (not even psycopg's own
    # prepare_threshold applies then).
    if connection.queries_logged:
        cursor_class = _UnpreparedCursor
    else:
        cursor_class = _PreparingCursor if prepare else psycopg.Cursor
    with connection.wrap_database_errors:
        raw = cursor_class(connection.connection)
    try:
        yield connection._prepare_cursor(raw)
    finally:
        raw.close()


def prepared_cursor(connection):
    """bound_cursor(connection, prepare=True)."""
    return bound_cursor(connection, prepare=True)


class _PreparingCursor(psycopg.Cursor):
    """A server-side-binding cursor whose every statement psycopg prepares on first run."""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


class _UnpreparedCursor(psycopg.Cursor):
    """A server-side-binding cursor that never prepares."""

    def execute(self, query, params=None, *, prepare=False, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)


def insert_many(objects: list, using: str) -> None:
    """INSERT model instances (primary keys from the database, not read back) with one executemany
    on a bound cursor: psycopg pipelines the rows; values are prepared by the fields themselves."""
    if not objects:
        return
    from django.db.models.sql import InsertQuery

    model = type(objects[0])
    connection = connections[using]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    query = InsertQuery(model)
    query.insert_values(fields, objects[:1])
    [(sql, _)] = query.get_compiler(using=using).as_sql()
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objects]
    with bound_cursor(connection) as cursor:
        cursor.executemany(sql, rows)
