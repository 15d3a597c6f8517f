"""Hand-written SELECTs for the per-request read path of the institutions' API.

One eligibility check runs a handful of small indexed queries; building each with the ORM (filters,
Q trees, ordering, compilation) costs several times what the database spends running it. The few
hot queries are therefore written once as SQL, and their rows become model instances with the
ORM's own converters (dates and JSON on SQLite, aware datetimes), so the instances behave exactly
like fetched ones. Columns left out are deferred: reading one loads it, as with .only().
"""

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


def table(model, connection) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def fetch(using: str, sql: str, params) -> list:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
