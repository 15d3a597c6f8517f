# Eligibility checks per second through the institutions' API, with several server workers:
#   .venv/bin/python bench/clinic_api.py
#   .venv/bin/python bench/clinic_api.py --workers 2 --concurrency 16 --seconds 10 --persons 2000
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/clinic_api.py --pool
# One command does everything, for SQLite and then, when DATABASE_URL names one, PostgreSQL (or one
# of them with --backend), on a scratch database (SQLite: a WAL file in a temporary folder;
# PostgreSQL: bench_clinic_api_<pid>, or $HOMECONSENT_BENCH_DB, on the server DATABASE_URL names,
# dropped afterwards):
#  1. migrate, seed a synthetic registry, register an API client (EC key made now) and real
#     consents (virtual cards of a test PKI signing the consent challenge) for --patients persons;
#  2. start `uvicorn homeconsent.asgi:application --workers N` on loopback, and then the same with
#     homeconsent.wsgi (--interface asgi|wsgi|both; settings bench/clinic_api_site.py: the real
#     ones plus a bare DRF endpoint GET /bench/bare);
#  3. drive it with an asyncio HTTP/1.1 keep-alive load generator (bounded by --seconds and
#     --max-requests per phase): the bare endpoint, then GET /api/v1/patients/{id}/eligibility
#     (token check, consent check, registry read, access-log row, all per request); prints
#     checks/s, p50/p99 latency and the ratio to the bare endpoint;
#     then (--medication, default) GET /api/v1/patients/{id}/medication on the same server (the
#     one-call read on PostgreSQL), and the same read on a fresh server with
#     HOMECONSENT_API_FAST_CHECK=0 (the general DRF path), for the ratio;
#  4. POSTs a batch pre-check of 10,000 entries over HTTP and reads all its results back;
#  5. counts the queries of batches of 100 and 10,000 in-process, and profiles one eligibility
#     request and one 10,000 batch with cProfile (where the time goes).
# Targets (issue 5): >= 1,000 checks/s, p99 <= 50 ms, batch <= 1 s, queries independent of size.
"""Benchmark: the institutions' API (eligibility checks, batch pre-check)."""

import argparse
import asyncio
import cProfile
import datetime
import io
import json
import os
import pstats
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the scratch database -------------------------------------------------------------------------
def scratch_environment(tmp: Path) -> tuple[dict, callable]:
    """Environment for this process and the server; and a function that drops the scratch DB."""
    env = {
        "DJANGO_SETTINGS_MODULE": "clinic_api_site",
        "HOMECONSENT_VAR_DIR": str(tmp / "var"),
        "HOMECONSENT_SQLITE_PATH": str(tmp / "bench.sqlite3"),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_DEBUG": "0",
        "HOMECONSENT_API_RATE": "5000/s",  # a one-second window keeps the throttle history short
        "HOMECONSENT_API_TOKEN_RATE": "5000/s",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH)]),
    }
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return env, lambda: None
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = (
        os.environ.get("HOMECONSENT_BENCH_DB") or f"bench_clinic_api_{os.getpid()}"
    )  # a shared server: your own name
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = parts._replace(path=f"/{name}").geturl()

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return env, drop


# --- setting the data up (in this process) ----------------------------------------------------------
def prepare(options, tmp: Path) -> dict:
    import django

    django.setup()
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Q

    from clinicapi.auth import do_register_client
    from clinicapi.patients import patient_id_for
    from homeconsent.consent.challenges import verify_card_authentication
    from homeconsent.consent.rules import today
    from homeconsent.consent.services import do_register_consent, issue_consent_challenge
    from homeconsent.jpki.card import VirtualJPKICard
    from homeconsent.jpki.pki import TestPKI, issue_virtual_card
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, MedicationRecord, Qualification
    from homeconsent.registry.seeding import seed_registry
    from tests.cards import card_answer

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    seed_registry(persons=options.persons, seed=5)
    institution = Institution.objects.create(code=with_check_digit("131999999"), name="ベンチ訪問クリニック")
    pki = TestPKI(settings.JPKI_PKI_DIR).init()
    day = today()
    valid = (
        Qualification.objects.filter(Q(lost_on__isnull=True) | Q(lost_on__gt=day), acquired_on__lte=day)
        .select_related("person", "insurer")
        .order_by("person_id")
    )
    # The consented patients are the seeder's heaviest medication histories in the default range
    # (the last 92 days), as a home-visit clinic's chronic, mostly elderly patients are.
    since = day - datetime.timedelta(days=92)
    heaviest = (
        MedicationRecord.objects.filter(dispensed_on__gte=since)
        .values("person_id")
        .annotate(rows=Count("id"))
        .order_by("-rows", "person_id")
        .values_list("person_id", flat=True)
    )
    if options.medication:
        rank = {person_id: i for i, person_id in enumerate(heaviest[: options.patients * 4])}
        valid = sorted((q for q in valid if q.person_id in rank), key=lambda q: (rank[q.person_id], q.pk))
    chosen, seen = [], set()
    for q in valid:
        if q.person_id not in seen:
            seen.add(q.person_id)
            chosen.append(q)
        if len(chosen) == options.patients:
            break
    pin = "4826"
    for q in chosen:
        issued = issue_virtual_card(q.person, pin, tmp / "cards", pki=pki)
        items = ["medication", "limit_certificate"]
        challenge = issue_consent_challenge(institution, kind="home_visit", items=items)
        certificate, signature = card_answer(VirtualJPKICard.load(issued.path), challenge.digest_info(), pin)
        verified = verify_card_authentication(challenge.nonce, certificate, signature, "consent")
        do_register_consent(verified, kind="home_visit", items=items)
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench"}
    client = do_register_client(institution, "bench", {"keys": [jwk]}, SCOPES.split())
    medication_rows = MedicationRecord.objects.filter(
        person_id__in=[q.person_id for q in chosen], dispensed_on__gte=since
    ).count()

    def keys(q):
        return {
            "insurer_number": q.insurer.number,
            "symbol": q.symbol,
            "number": q.number,
            "branch": q.branch,
            "birth_date": q.person.birth_date.isoformat(),
        }

    others = [
        keys(q) for q in Qualification.objects.select_related("person", "insurer").order_by("pk")[:10_000]
    ]
    consented = [keys(q) for q in chosen]
    batch = consented + [others[i % len(others)] for i in range(10_000 - len(consented))]
    return {
        "client_id": client.client_id,
        "key": key,
        "patient_ids": [patient_id_for(institution.code, q.person_id) for q in chosen],
        "batch": batch,
        "seconds": time.perf_counter() - started,
        "vendor": connection.vendor,
        "medication_rows_per_read": round(medication_rows / max(len(chosen), 1), 1),
    }


SCOPES = "qualification.read medication.read batch.write"


def token(base: str, client_id: str, key) -> str:
    import jwt

    url = base + "/api/v1/auth/token"
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": client_id,
            "aud": url,
            "exp": now + 240,
            "iat": now,
            "jti": str(uuid.uuid4()),
        },
        key,
        algorithm="ES256",
        headers={"kid": "bench"},
    )
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion": assertion,
            "scope": SCOPES,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        }
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(url, form), timeout=30) as response:
        return json.load(response)["access_token"]


# --- the server -------------------------------------------------------------------------------------
SERVER_APPS = {
    "asgi": "homeconsent.asgi:application",  # Django's ASGI handler: a new thread (and connection) per request
    "wsgi": "homeconsent.wsgi:application",  # the server's thread pool: persistent connections
    "serve": "homeconsent.serving:application",  # bin/serve: ASGI, HTTP on a fixed thread pool (a2wsgi)
}


def server_command(server: str, interface: str, port: int, workers: int, threads: int) -> list[str]:
    app = SERVER_APPS[interface]
    if server == "granian":
        command = [
            sys.executable,
            "-W",
            "ignore::DeprecationWarning",
            "-m",
            "granian",
            "--interface",
            "wsgi" if interface == "wsgi" else "asginl",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        if interface == "wsgi":
            command += ["--blocking-threads", str(threads)]
        return command + [app]
    return [
        sys.executable,
        "-W",
        "ignore::DeprecationWarning",
        "-m",
        "uvicorn",
        app,
        "--interface",
        "wsgi" if interface == "wsgi" else "asgi3",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--lifespan",
        "off",
    ]


def start_server(
    env: dict, port: int, workers: int, interface: str = "asgi", server: str = "uvicorn", threads: int = 8
) -> subprocess.Popen:
    """N worker processes of uvicorn or granian. asgi: homeconsent.asgi (Django runs each request's
    sync code in a fresh thread, so it opens a database connection per request); wsgi:
    homeconsent.wsgi in the server's pool of long-lived threads (persistent connections are
    reused); serve: homeconsent.serving, what bin/serve runs."""
    command = server_command(server, interface, port, workers, threads)
    env = {**env, "HOMECONSENT_HTTP_THREADS": str(threads)}
    if interface != "asgi":
        env["HOMECONSENT_DB_CONN_MAX_AGE"] = "600"
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/bare", timeout=2) as response:
                if response.status == 200:
                    return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    stop_server(process)
    raise RuntimeError("the server did not start")


def stop_server(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(server.pid, signal.SIGKILL)


def medication_paths(data) -> list[str]:
    return [f"/api/v1/patients/{pid}/medication" for pid in data["patient_ids"]]


def general_medication(env, data, options, interface) -> dict:
    """The medication phase through the general DRF path: a fresh server with the one-call reads
    off (HOMECONSENT_API_FAST_CHECK=0), the same data and load."""
    port = free_port()
    server = start_server(
        {**env, "HOMECONSENT_API_FAST_CHECK": "0"},
        port,
        options.workers,
        interface,
        options.server,
        options.threads,
    )
    try:
        bearer = token(f"http://127.0.0.1:{port}", data["client_id"], data["key"])
        return load(
            port,
            medication_paths(data),
            f"Authorization: Bearer {bearer}\r\n",
            options,
            "medication (general)",
        )
    finally:
        stop_server(server)


def compare_route(env, data, options) -> dict:
    """Eligibility checks/s without and with clinicapi.fastroute, alternating on fresh servers."""
    figures = {"django": [], "route": []}
    paths = [f"/api/v1/patients/{pid}/eligibility" for pid in data["patient_ids"]]
    for _ in range(options.compare_route):
        for name, switch in (("django", "0"), ("route", "1")):
            port = free_port()
            server = start_server(
                {**env, "HOMECONSENT_API_FAST_ROUTE": switch},
                port,
                options.workers,
                "serve",
                options.server,
                options.threads,
            )
            try:
                bearer = token(f"http://127.0.0.1:{port}", data["client_id"], data["key"])
                run = load(
                    port, paths, f"Authorization: Bearer {bearer}\r\n", options, f"eligibility ({name})"
                )
            finally:
                stop_server(server)
            figures[name].append((run["per_second"], run["p99_ms"], run["load_average"][0]))

    return figures


# --- the load generator ---------------------------------------------------------------------------
async def _read_response(reader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at >= 0:
        length = int(lower[at + 15 : lower.index(b"\r\n", at)])
        return status, await reader.readexactly(length)
    body = b""  # chunked
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def _connection(port, paths, headers, deadline, budget, latencies, statuses):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            path = paths[budget[0] % len(paths)]
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode()
            began = time.perf_counter()
            writer.write(request)
            status, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - began)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(port, paths, headers, concurrency, seconds, max_requests):
    latencies, statuses, budget = [], {}, [max_requests]
    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(
        *(
            _connection(port, paths, headers, deadline, budget, latencies, statuses)
            for _ in range(concurrency)
        )
    )
    return latencies, statuses, time.perf_counter() - began


def load(port, paths, headers, options, label) -> dict:
    asyncio.run(_load(port, paths, headers, options.concurrency, 2, 400))  # warm-up
    latencies, statuses, elapsed = asyncio.run(
        _load(port, paths, headers, options.concurrency, options.seconds, options.max_requests)
    )
    latencies.sort()
    result = {
        "label": label,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "statuses": statuses,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(
        f"  {label:<12} {result['per_second']:>8.1f}/s  p50 {result['p50_ms']:>7.2f} ms  "
        f"p99 {result['p99_ms']:>7.2f} ms  ({result['requests']} requests, statuses {statuses})"
    )
    return result


# --- batch and profiles (in this process) ------------------------------------------------------------
def post_json(url, body, bearer) -> tuple[int, dict, float, float | None]:
    """(status, body, client wall seconds, server seconds from its Server-Timing header or None)."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data, {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
    )
    began = time.perf_counter()
    try:
        response = urllib.request.urlopen(request, timeout=120)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        answer, seconds = json.load(response), time.perf_counter() - began
        timing = response.headers.get("Server-Timing", "")
    server = float(timing.split(";dur=")[1]) / 1000 if ";dur=" in timing else None
    return response.status, answer, seconds, server


def get_json(url, bearer) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {bearer}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


class QueryLog:
    """Every statement sent to the database while active (executemany counts once), counted by a
    connection execute wrapper, so it works whatever DEBUG says."""

    def __init__(self, connection):
        self.connection, self.sql = connection, []

    def __call__(self, execute, sql, params, many, context):
        self.sql.append(sql)
        return execute(sql, params, many, context)

    def __enter__(self):
        self.connection.ensure_connection()
        self._wrapped = self.connection.execute_wrapper(self)
        self._wrapped.__enter__()
        return self

    def __exit__(self, *exc):
        self._wrapped.__exit__(*exc)

    def __len__(self):
        return len(self.sql)


def route_cost(bearer, url, count=200) -> tuple[float, float]:
    """Sequential checks through bin/serve's route on the event loop (clinicapi.fastroute), called
    in-process as the server calls it (ASGI, no HTTP): wall and CPU milliseconds of this process
    per check (the database's own CPU is PostgreSQL's)."""
    from django.core.wsgi import get_wsgi_application
    from django.test import override_settings

    from clinicapi.fastroute import FastEligibility
    from homeconsent.serving import ThreadPoolHttp

    django = ThreadPoolHttp(get_wsgi_application(), 2)
    to_django = [0]

    async def counted(scope, receive, send):
        to_django[0] += 1
        return await django(scope, receive, send)

    route = FastEligibility(counted)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {bearer}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def one():
        statuses = []

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await route(scope, receive, send)
        assert statuses == [200], statuses

    async def run():
        for _ in range(20):  # the first teaches the route Django's headers
            await one()
        to_django[0] = 0
        began, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            await one()
        figures = (time.perf_counter() - began) / count * 1000, (time.process_time() - cpu) / count * 1000
        assert to_django[0] == 0, f"{to_django[0]} of the timed checks went to Django"
        await route.close()
        return figures

    with override_settings(CLINICAPI_FAST_ROUTE=True):
        return asyncio.run(run())


def medication_cost(http, connection, url, count=200) -> dict:
    """One medication read in-process, sequential, through the general path and then the one call
    (wall and CPU ms of this process per read, and the statements Django sent for one)."""
    from django.test import override_settings

    figures = {}
    for name, fast in (("general", False), ("fast", True)):
        with override_settings(CLINICAPI_FAST_CHECK=fast):
            for _ in range(20):  # warm-up; the general path's first answer teaches the throttle key
                assert http.get(url).status_code == 200
            with QueryLog(connection) as one:
                assert http.get(url).status_code == 200
            began, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                http.get(url)
            figures[f"medication_{name}_in_process_ms"] = round(
                (time.perf_counter() - began) / count * 1000, 2
            )
            figures[f"medication_{name}_cpu_ms"] = round((time.process_time() - cpu) / count * 1000, 2)
            figures[f"medication_{name}_queries"] = len(one)
    return figures


def in_process(bearer, entries, patient_id, profile_file=None) -> dict:
    from django.db import connection
    from django.test import Client, override_settings

    http = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {bearer}")

    def batch(items):
        response = http.post("/api/v1/batches", {"entries": items}, content_type="application/json")
        assert response.status_code == 201, response.content[:300]

    batch(entries[:100])  # warm-up
    with QueryLog(connection) as hundred:
        batch(entries[:100])
    began = time.perf_counter()
    with QueryLog(connection) as ten_thousand:
        batch(entries)
    batch_seconds = time.perf_counter() - began
    # The general path in the same run (on PostgreSQL the default is clinicapi.fastbatch).
    with override_settings(CLINICAPI_BATCH_FAST=False):
        began = time.perf_counter()
        batch(entries)
        batch_general_seconds = time.perf_counter() - began
    url = f"/api/v1/patients/{patient_id}/eligibility"
    assert (
        http.get(url).status_code == 200
    )  # a token's first check takes the general path (clinicapi.fastcheck)
    with QueryLog(connection) as one_check:
        assert http.get(url).status_code == 200
    if not one_check.sql and connection.vendor == "postgresql":
        # The one-call check sends its statement through psycopg directly, past Django's wrappers.
        from clinicapi import fastcheck

        one_check.sql.append(f"SELECT * FROM {fastcheck.ELIGIBILITY.name(connection)}(…)  [one call]")

    for _ in range(20):  # warm-up
        http.get(url)
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(200):
        http.get(url)
    one_check_ms = (time.perf_counter() - began) / 200 * 1000
    one_check_cpu_ms = (time.process_time() - cpu) / 200 * 1000
    route_ms, route_cpu_ms = route_cost(bearer, url) if connection.vendor == "postgresql" else (None, None)
    medication = medication_cost(http, connection, f"/api/v1/patients/{patient_id}/medication")

    def profile(function, repeat, dump=None):
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(repeat):
            function()
        profiler.disable()
        if dump is not None:
            profiler.dump_stats(dump)  # for pstats / snakeviz
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(
            r"homeconsent|clinicapi|rest_framework|django/db|sqlite3|psycopg", 22
        )
        return out.getvalue()

    eligibility_profile = profile(lambda: http.get(url), 200, profile_file)
    batch_profile = profile(lambda: batch(entries), 1)
    return {
        "queries_batch_100": len(hundred),
        "queries_batch_10000": len(ten_thousand),
        "queries_one_check": len(one_check),
        "one_check_sql": [sql[:120] for sql in one_check.sql],
        "batch_10000_in_process_seconds": round(batch_seconds, 3),
        "batch_10000_general_in_process_seconds": round(batch_general_seconds, 3),
        "one_check_in_process_ms": round(one_check_ms, 2),
        "one_check_cpu_ms": round(one_check_cpu_ms, 2),
        "route_check_ms": route_ms and round(route_ms, 2),
        "route_check_cpu_ms": route_cpu_ms and round(route_cpu_ms, 2),
        **medication,
        "eligibility_profile": eligibility_profile,
        "batch_profile": batch_profile,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="keep-alive connections of the load generator"
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of each load phase")
    parser.add_argument("--max-requests", type=int, default=50_000, help="most requests of each load phase")
    parser.add_argument("--persons", type=int, default=2000, help="persons seeded in the registry")
    parser.add_argument(
        "--patients", type=int, default=40, help="persons given a real consent (one card each)"
    )
    parser.add_argument(
        "--interface",
        choices=["asgi", "wsgi", "both", "serve"],
        default="serve",
        help="how the server runs Django: serve (bin/serve's application), wsgi, asgi, or "
        "both (asgi then wsgi); the batch phase uses the last one",
    )
    parser.add_argument("--server", choices=["granian", "uvicorn"], default="granian", help="the HTTP server")
    parser.add_argument("--threads", type=int, default=8, help="HTTP threads per worker (wsgi, serve)")
    parser.add_argument(
        "--pool",
        action="store_true",
        help="PostgreSQL: serve from a psycopg connection pool (see clinic_api_site.py)",
    )
    parser.add_argument(
        "--fast-route",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve: checks on the event loop before Django, as bin/serve runs them (default; "
        "--no-fast-route: HOMECONSENT_API_FAST_ROUTE=0)",
    )
    parser.add_argument(
        "--compare-route",
        type=int,
        default=0,
        metavar="N",
        help="serve: then N more rounds of the eligibility phase, each on a fresh server without the "
        "route and one with it (same data, alternating, so the machine's drift hits both)",
    )
    parser.add_argument(
        "--medication",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the eligibility phase, the medication read on the same server (one database call "
        "on PostgreSQL), then on a fresh server through the general path (HOMECONSENT_API_FAST_CHECK=0); "
        "the consented patients are the heaviest medication histories of the last 92 days",
    )
    parser.add_argument(
        "--skip-in-process",
        action="store_true",
        help="only the HTTP phases and the batch (no query counts, no profiles)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file (with --backend)")
    parser.add_argument("--profiles", action="store_true", help="print the cProfile reports in full")
    parser.add_argument(
        "--profile-file", type=Path, help="write the cProfile of 200 eligibility checks here (with --backend)"
    )
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql"],
        help="one back end only (default: SQLite, then PostgreSQL when DATABASE_URL names one)",
    )
    options = parser.parse_args()

    postgres_url = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    if options.backend is None:
        # Each back end in its own process: Django's settings are fixed once loaded.
        for backend in ["sqlite"] + (["postgresql"] if postgres_url else []):
            print(f"=== {backend} ===", flush=True)
            env = dict(os.environ)
            if backend == "sqlite":
                env.pop("DATABASE_URL", None)
            subprocess.run(
                [sys.executable, __file__, *sys.argv[1:], "--backend", backend], env=env, check=True
            )
        return
    if options.backend == "postgresql" and not postgres_url:
        parser.error("--backend postgresql needs DATABASE_URL=postgres://…")

    tmp = Path(tempfile.mkdtemp(prefix="bench-clinic-api-"))
    env, drop_database = scratch_environment(tmp)
    env["HOMECONSENT_BENCH_DB_POOL"] = "1" if options.pool else "0"
    env["HOMECONSENT_API_FAST_ROUTE"] = "1" if options.fast_route else "0"
    os.environ.update(env)
    server = None
    try:
        print(f"preparing ({options.persons} persons, {options.patients} consented patients) ...")
        data = prepare(options, tmp)
        print(f"  ready in {data['seconds']:.1f} s on {data['vendor']}")
        from django.db import connections

        connections.close_all()
        runs = {}
        interfaces = ["asgi", "wsgi"] if options.interface == "both" else [options.interface]
        for interface in interfaces:
            port = free_port()
            server = start_server(env, port, options.workers, interface, options.server, options.threads)
            base = f"http://127.0.0.1:{port}"
            bearer = token(base, data["client_id"], data["key"])
            headers = f"Authorization: Bearer {bearer}\r\n"
            print(
                f"load ({interface}): {options.workers} {options.server} workers, {options.concurrency} connections, "
                f"{options.seconds:g} s or {options.max_requests} requests per phase"
            )
            bare = load(port, ["/bench/bare"], "", options, "bare DRF")
            paths = [f"/api/v1/patients/{pid}/eligibility" for pid in data["patient_ids"]]
            eligibility = load(port, paths, headers, options, "eligibility")
            ratio = eligibility["per_second"] / bare["per_second"]
            print(f"  eligibility / bare = {ratio:.2f}")
            runs[interface] = {"bare": bare, "eligibility": eligibility, "ratio": round(ratio, 3)}
            if options.medication:
                runs[interface]["medication"] = load(
                    port, medication_paths(data), headers, options, "medication"
                )
            if interface != interfaces[-1]:
                stop_server(server)
                server = None

        medication_general = None
        if options.medication:
            medication_general = general_medication(env, data, options, interfaces[-1])
            ratio = runs[interfaces[-1]]["medication"]["per_second"] / medication_general["per_second"]
            print(
                f"  medication / medication (general) = {ratio:.2f}  "
                f"({data['medication_rows_per_read']} records per read)"
            )
        comparison = compare_route(env, data, options) if options.compare_route else None
        # Three submissions: the median of the client's wall time and of the server's own time.
        submitted = []
        for _ in range(3):
            status, received, seconds, server_seconds = post_json(
                base + "/api/v1/batches", {"entries": data["batch"]}, bearer
            )
            assert status == 201, received
            submitted.append((seconds, server_seconds))
        batch_seconds = statistics.median(s for s, _ in submitted)
        batch_server_seconds = statistics.median(s for _, s in submitted)
        began = time.perf_counter()
        offset, rows = 0, 0
        while offset is not None:
            page = get_json(f"{base}/api/v1/batches/{received['reception_number']}?offset={offset}", bearer)
            rows += len(page["entries"])
            offset = page["next_offset"]
        fetch_seconds = time.perf_counter() - began
        print(
            f"batch of 10,000 over HTTP: {batch_seconds:.3f} s, server time {batch_server_seconds:.3f} s "
            f"(medians of 3; normal {received['normal_count']}, "
            f"error {received['error_count']}); fetching its {rows} results: {fetch_seconds:.3f} s"
        )
        stop_server(server)
        server = None

        summary = {
            "backend": data["vendor"],
            "server": options.server,
            "interface": interfaces[-1],
            "workers": options.workers,
            "threads": options.threads,
            "concurrency": options.concurrency,
            "checks_per_s": runs[interfaces[-1]]["eligibility"]["per_second"],
            "p50_ms": runs[interfaces[-1]]["eligibility"]["p50_ms"],
            "p99_ms": runs[interfaces[-1]]["eligibility"]["p99_ms"],
            "bare_per_s": runs[interfaces[-1]]["bare"]["per_second"],
            "ratio": runs[interfaces[-1]]["ratio"],
            "statuses": runs[interfaces[-1]]["eligibility"]["statuses"],
            "load_average": runs[interfaces[-1]]["eligibility"]["load_average"],
            "batch_10000_http_s": round(batch_seconds, 3),
            "batch_10000_server_s": round(batch_server_seconds, 3),
            "fast_route": options.fast_route,
        }
        if medication_general is not None:
            medication = runs[interfaces[-1]]["medication"]
            summary.update(
                {
                    "medication_per_s": medication["per_second"],
                    "medication_p50_ms": medication["p50_ms"],
                    "medication_p99_ms": medication["p99_ms"],
                    "medication_statuses": medication["statuses"],
                    "medication_load_average": medication["load_average"],
                    "medication_general_per_s": medication_general["per_second"],
                    "medication_general_p50_ms": medication_general["p50_ms"],
                    "medication_general_p99_ms": medication_general["p99_ms"],
                    "medication_general_statuses": medication_general["statuses"],
                    "medication_general_load_average": medication_general["load_average"],
                    "medication_ratio": round(medication["per_second"] / medication_general["per_second"], 3),
                    "medication_rows_per_read": data["medication_rows_per_read"],
                }
            )
        if comparison is not None:
            summary["route_comparison"] = comparison
        if options.skip_in_process:
            print(json.dumps(summary))
            return
        figures = in_process(bearer, data["batch"], data["patient_ids"][0], options.profile_file)
        print(
            f"queries: batch of 100 = {figures['queries_batch_100']}, batch of 10,000 = "
            f"{figures['queries_batch_10000']}; one eligibility check = {figures['queries_one_check']}"
        )
        print(
            f"batch of 10,000 in-process (no HTTP): {figures['batch_10000_in_process_seconds']:.3f} s "
            f"(the general path in the same run: {figures['batch_10000_general_in_process_seconds']:.3f} s)"
        )
        print(
            f"one eligibility check in-process, sequential (no HTTP, no server): "
            f"{figures['one_check_in_process_ms']:.2f} ms = {1000 / figures['one_check_in_process_ms']:.0f}/s per core"
            f" (CPU of this process {figures['one_check_cpu_ms']:.2f} ms)"
        )
        if figures["route_check_ms"] is not None:
            print(
                f"one check through bin/serve's route on the event loop (ASGI in-process, no HTTP): "
                f"{figures['route_check_ms']:.2f} ms (CPU of this process {figures['route_check_cpu_ms']:.2f} ms)"
            )
        print(
            "one medication read in-process, sequential: general path "
            f"{figures['medication_general_in_process_ms']:.2f} ms (CPU {figures['medication_general_cpu_ms']:.2f} ms, "
            f"{figures['medication_general_queries']} queries), one call {figures['medication_fast_in_process_ms']:.2f} ms "
            f"(CPU {figures['medication_fast_cpu_ms']:.2f} ms, {figures['medication_fast_queries']} Django queries)"
        )

        print("queries of one eligibility check:")
        for sql in figures["one_check_sql"]:
            print("   ", sql)
        for name in ("eligibility_profile", "batch_profile"):
            text = figures[name]
            if not options.profiles:
                text = "\n".join(text.splitlines()[:40])
            print(f"\n--- cProfile: {name.replace('_', ' ')} ---\n{text}")
        if options.json:
            options.json.write_text(
                json.dumps(
                    {
                        "vendor": data["vendor"],
                        "workers": options.workers,
                        "concurrency": options.concurrency,
                        "runs": runs,
                        "batch_10000_http_seconds": round(batch_seconds, 3),
                        "batch_fetch_seconds": round(fetch_seconds, 3),
                        **{k: v for k, v in figures.items() if not k.endswith("_profile")},
                    },
                    indent=2,
                )
            )
        for name in ("one_check_in_process_ms", "one_check_cpu_ms", "route_check_ms", "route_check_cpu_ms"):
            summary[name] = figures[name]
        for name in figures:
            if name.startswith("medication_"):
                summary[name] = figures[name]
        summary["batch_10000_in_process_s"] = figures["batch_10000_in_process_seconds"]
        summary["batch_10000_general_in_process_s"] = figures["batch_10000_general_in_process_seconds"]
        print(json.dumps(summary))  # the last line: the figures a script reads
    finally:
        if server is not None:
            stop_server(server)
        from django.db import connections

        connections.close_all()
        drop_database()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
