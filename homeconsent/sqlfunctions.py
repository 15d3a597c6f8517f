"""PL/pgSQL functions named by the hash of their text (PostgreSQL's one-call paths).

A hot path that runs as one database function (the API's eligibility and medication reads, the
access log's bulk append) builds the function's text from the current models; its name carries the
hash of that text, so code that needs another function never calls a stale one. A migration installs
it and every migrate re-installs it (post_migrate), so a later migration of a table it reads gets a
matching one. Where it is missing (SQLite, a database not migrated yet, a restore that dropped it)
the caller takes its general path, with a warning once per process.
"""

import hashlib
import logging

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)


def literal(value: str) -> str:
    """A SQL string literal of a constant of ours (no quotes inside, checked)."""
    if "'" in value or "\\" in value:
        raise ValueError(f"not a plain constant: {value!r}")
    return f"'{value}'"


class OneCall:
    """A hot path as one PL/pgSQL function: its name (prefix and the hash of its text), its
    installation, and the call. `setting`: the name of a boolean setting that switches it off."""

    def __init__(
        self, prefix: str, arguments: str, build, what: str, models, setting: str | None = None, binary=False
    ):
        self.prefix = prefix
        self.arguments = arguments  # "p_token_hash text, …"
        self.build = build  # connection -> (RETURNS TABLE columns, body)
        self.what = what  # for the warning when it is missing
        self.models = models  # whose tables it reads (installed after migrate once they all exist)
        self.setting = setting
        self._installed: dict = {}  # alias -> function name, or "" when missing (fall back, warn once)
        # Each parameter cast to its declared type: the call never depends on how the driver typed a
        # value (a list of small ints, a list of None). binary: the parameters travel in binary form
        # (for a list of strings psycopg's text form quotes each element in Python, ~30 µs a JSON text).
        self._placeholders = ", ".join(
            f"{'%b' if binary else '%s'}::{argument.split(None, 1)[1]}" for argument in arguments.split(",")
        )

    def function_sql(self, connection) -> tuple[str, str]:
        """(name, CREATE FUNCTION text) for this PostgreSQL database."""
        returns, body = self.build(connection)
        text = self.arguments + returns + body
        name = self.prefix + hashlib.sha256(text.encode()).hexdigest()[:12]
        sql = (
            f"CREATE OR REPLACE FUNCTION {name}({self.arguments}) RETURNS TABLE ({returns}) "
            f"LANGUAGE plpgsql VOLATILE AS $fn${body}$fn$"
        )
        return name, sql

    def install(self, connection) -> str:
        """Create the function in this PostgreSQL database; returns its name. Earlier versions stay
        (processes still running the previous release call theirs until they restart)."""
        name, sql = self.function_sql(connection)
        with connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the text is not formatted
        self._installed.pop(connection.alias, None)
        return name

    def uninstall(self, connection) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = current_schema() AND p.proname LIKE %s",
                [self.prefix + "%"],
            )
            for (signature,) in cursor.fetchall():
                cursor.execute(f"DROP FUNCTION {signature}")
        self._installed.pop(connection.alias, None)

    def install_after_migrate(self, using="default") -> None:
        """post_migrate: keep the function matching the models the code now has (PostgreSQL only,
        and only while the tables it reads exist)."""
        connection = connections[using]
        if connection.vendor != "postgresql":
            return
        if {m._meta.db_table for m in self.models} <= set(connection.introspection.table_names()):
            self.install(connection)

    def name(self, connection) -> str:
        """The installed function's name, or "" when it is missing (the general path answers)."""
        name = self._installed.get(connection.alias)
        if name is None:
            wanted, _ = self.function_sql(connection)
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_proc WHERE proname = %s", [wanted])
                found = cursor.fetchone() is not None
            if not found:
                log.warning(
                    "%s is not installed (run manage.py migrate); %s take the general path", wanted, self.what
                )
            name = self._installed[connection.alias] = wanted if found else ""
        return name

    def forget(self, connection) -> None:
        """Look for the function again (it was dropped under us: a restore)."""
        self._installed.pop(connection.alias, None)

    def enabled(self, connection) -> bool:
        return (
            (self.setting is None or getattr(settings, self.setting))
            and connection.vendor == "postgresql"
            and bool(self.name(connection))
        )

    def statement(self, name: str) -> str:
        return f"SELECT * FROM {name}({self._placeholders})"

    def call(self, connection, name: str, parameters) -> list:
        connection.ensure_connection()
        import psycopg

        # A server-side-binding cursor on Django's own connection (same transaction state, same type
        # adapters): psycopg prepares the one statement on first use, then each call is Bind/Execute.
        # wrap_database_errors: a failure marks the connection as Django's own failures do, so a
        # broken connection is closed at the end of the request instead of being kept.
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(self.statement(name), parameters, prepare=True)
            return cursor.fetchall()


def undefined_function(error) -> bool:
    """Whether a ProgrammingError of a call says its function does not exist (dropped under us)."""
    return type(error.__cause__).__name__ == "UndefinedFunction"
