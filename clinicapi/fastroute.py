"""The plain eligibility check answered on the event loop, in front of Django (bin/serve with
HOMECONSENT_API_FAST_ROUTE, on by default; bench/README.md has the measurements).

clinicapi.fastcheck makes a check one database call, but under bin/serve each request still
crosses a2wsgi's thread pool and Django's twelve middlewares: about 2 ms of CPU around a call of
0.5 ms. This ASGI route answers `GET /api/v1/patients/{id}/eligibility` itself when fastcheck
would: it calls the same PL/pgSQL function (token, client, institution and scope; the consent in
force; the registry read; the access-log row and chain head, committed by that one statement) on an
async psycopg pool (autocommit, the statement prepared on each connection), and builds the body
with fastcheck.answer_body, the general path's own code.

Everything else goes to Django unchanged: other paths, methods and query strings, a cookie or a
body, a client this process has not seen answered yet, and every call the function does not
answer "ok" (it wrote nothing then), so each refusal is the general path's own answer. The
response headers are Django's: the first successful answer Django gives for one combination of
the request headers its middlewares read (host, scheme and proxy headers, Accept,
Accept-Language) is remembered, and fast answers for that combination carry the same headers.
tests/clinicapi/test_fastroute.py pins answers, refusals, headers and log rows to the general path.

The medication read, one database call too (clinicapi.fastmedication), is left to Django's URL:
on this route (the commit "fastroute: the medication read on the event loop too") it served fewer
reads a second and spent more CPU per read than through Django in the same runs (bench/README.md).
"""

import asyncio
import logging
import re
import time

import psycopg
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connections, router
from django.urls import reverse
from django.utils import timezone
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from homeconsent.audit.models import AccessEvent
from homeconsent.consent import rules

from . import fastcheck

log = logging.getLogger(__name__)

# Request headers that reach the middlewares' answer headers (ALLOWED_HOSTS, HTTPS and HSTS,
# Content-Language, content negotiation): one learned header set per combination.
_KEYED = (
    b"host",
    b"accept",
    b"accept-language",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-port",
)
# Requests the middlewares treat apart (a language or session cookie, a body): Django answers them.
_DECLINED = (b"cookie", b"content-length", b"transfer-encoding")
_LEARNED_KEPT = 256
_RETRY_SECONDS = 5.0


def _path_pattern() -> re.Pattern:
    marker = "PATIENT"
    url = reverse("clinicapi:eligibility", kwargs={"patient_id": marker})
    before, after = url.split(marker)
    return re.compile(re.escape(before) + "([^/]+)" + re.escape(after))


class _Database:
    """An async pool on the database the access log is written to, opened in the serving loop."""

    def __init__(self, connection, pool: AsyncConnectionPool, sql: str):
        self.connection = connection  # Django's wrapper: its converters only (no I/O)
        self.pool = pool
        self.sql = sql

    @classmethod
    async def open(cls):
        connection = connections[router.db_for_write(AccessEvent)]
        if connection.vendor != "postgresql":
            return None
        params = connection.get_connection_params()  # Django's adapters (context) and options
        params.pop("cursor_factory", None)  # a sync class of Django's
        timezone_name = connection.timezone_name

        async def configure(conn):
            if timezone_name and conn.info.parameter_status("TimeZone") != timezone_name:
                await conn.execute(connection.ops.set_time_zone_sql(), [timezone_name])

        pool = AsyncConnectionPool(
            kwargs={**params, "autocommit": True},
            min_size=1,
            max_size=settings.CLINICAPI_FAST_POOL,
            configure=configure,
            open=False,
            name="clinicapi-fastroute",
        )
        await pool.open(wait=True, timeout=10)
        name, _ = fastcheck.ELIGIBILITY.function_sql(connection)
        async with pool.connection() as conn:
            found = await (await conn.execute("SELECT 1 FROM pg_proc WHERE proname = %s", [name])).fetchone()
        if found is None:
            log.warning("%s is not installed (run manage.py migrate); checks go to Django", name)
            await pool.close()
            return None
        return cls(connection, pool, fastcheck.ELIGIBILITY.statement(name))

    async def call(self, params) -> list:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(self.sql, params, prepare=True)
            return await cursor.fetchall()


class FastEligibility:
    """ASGI: the plain eligibility check on the event loop; every other request to `app` (Django)."""

    def __init__(self, app):
        self.app = app
        self.path = None
        self.learned: dict = {}  # header combination -> Django's answer headers, Content-Length aside
        self.proxy_header = None
        self._cache_in_memory = False
        self._opening = None  # task opening the database in the running loop
        self._loop = None
        self._retry_at = 0.0

    async def __call__(self, scope, receive, send):
        if (
            not settings.CLINICAPI_FAST_ROUTE
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["query_string"]
            or scope.get("root_path")
        ):
            return await self.app(scope, receive, send)
        if self.path is None:
            self.path = _path_pattern()
            self._cache_in_memory = isinstance(caches[DEFAULT_CACHE_ALIAS], LocMemCache)
            proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
            self.proxy_header = proxy[0][5:].lower().replace("_", "-").encode() if proxy else None
        matched = self.path.fullmatch(scope["path"])
        if matched is None:
            return await self.app(scope, receive, send)
        request = self._plain_request(scope)
        if request is None:
            return await self.app(scope, receive, send)
        key, accept, authorization = request
        headers = self.learned.get(key)
        if headers is not None and settings.CLINICAPI_FAST_CHECK:
            if await self._answer(headers, accept, authorization, matched[1], send):
                return None
        return await self._general(key, scope, receive, send)

    def _plain_request(self, scope):
        """(header combination, Accept, Authorization) of a request the route may answer, else None."""
        seen = {}
        for name, value in scope["headers"]:
            if name in _DECLINED or b"_" in name:  # an underscore name would alias another in WSGI
                return None
            if name in _KEYED or name == b"authorization" or name == self.proxy_header:
                if name in seen:
                    return None  # repeated: Django would see them joined
                seen[name] = value
        if b"host" not in seen or b"authorization" not in seen:
            return None
        try:
            accept = seen.get(b"accept", b"").decode("ascii")
            authorization = seen[b"authorization"].decode("latin-1")  # as WSGI hands it to Django
        except UnicodeDecodeError:
            return None
        key = (scope.get("scheme", "http"), *(seen.get(name) for name in _KEYED), seen.get(self.proxy_header))
        return key, accept, authorization

    async def _general(self, key, scope, receive, send):
        if key in self.learned:
            return await self.app(scope, receive, send)

        async def send_learning(message):
            if message["type"] == "http.response.start" and message["status"] == 200:
                self._learn(key, message["headers"])
            await send(message)

        return await self.app(scope, receive, send_learning)

    def _learn(self, key, headers) -> None:
        kept = [(bytes(name).lower(), bytes(value)) for name, value in headers]
        if any(name == b"set-cookie" for name, _ in kept):
            return
        if len(self.learned) >= _LEARNED_KEPT:
            self.learned.clear()
        self.learned[key] = [(name, value) for name, value in kept if name != b"content-length"]

    async def _database(self):
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if time.monotonic() < self._retry_at:
                return None
            self._loop, self._opening = loop, loop.create_task(self._open())
        opening = self._opening
        database = await asyncio.shield(opening)
        if database is None and self._opening is opening:
            self._loop, self._retry_at = None, time.monotonic() + _RETRY_SECONDS
        return database

    def _forget(self, database) -> None:
        """Open the pool again at the next call (the function changed under us)."""
        if self._opening is not None and self._opening.done() and self._opening.result() is database:
            self._loop = self._opening = None
            asyncio.get_running_loop().create_task(database.pool.close())

    async def _open(self):
        try:
            return await _Database.open()
        except (psycopg.Error, PoolTimeout):
            log.exception("the eligibility fast route cannot reach the database; checks go to Django")
            return None

    async def close(self) -> None:
        """Close the pool (tests; a worker otherwise keeps it for its life)."""
        if self._opening is not None and self._opening.done() and self._opening.result() is not None:
            await self._opening.result().pool.close()
        self._opening = self._loop = None

    async def _answer(self, headers, accept, authorization, patient_id, send) -> bool:
        plain = fastcheck.plain_check(accept, authorization, patient_id)
        if plain is None:
            return False
        token_hash, client_id, person_id, code = plain
        database = await self._database()
        if database is None:
            return False
        # The throttle's cache: in memory it is read on the loop; elsewhere (Redis) in a thread.
        in_memory = self._cache_in_memory
        throttle = (
            fastcheck.throttle_for(client_id)
            if in_memory
            else await asyncio.to_thread(fastcheck.throttle_for, client_id)
        )
        if throttle is None:
            return False  # over the limit: Django answers 429
        now = timezone.now()
        on = rules.today()
        try:
            rows = await database.call(fastcheck.call_parameters(token_hash, code, person_id, on, now))
        except psycopg.errors.UndefinedFunction:
            self._forget(database)  # dropped under us (a restore): look again
            return False
        except (psycopg.OperationalError, PoolTimeout):
            # Django answers instead; if this call had committed, the read is logged twice (never less).
            log.exception("the eligibility fast route's call failed; Django answers")
            return False
        body = fastcheck.answer_body(rows, database.connection, client_id, patient_id, on, now)
        if body is None:
            return False
        if throttle.rate is not None:
            if in_memory:
                throttle.throttle_success()
            else:
                await asyncio.to_thread(throttle.throttle_success)
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
