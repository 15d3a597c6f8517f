# The batch pre-check of 10,000 entries in-process (POST /api/v1/batches through Django's test
# client, no HTTP server), the general path against the fast one in the same run, alternating:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/hc_bench_batch .venv/bin/python bench/batch_submit.py
#   … --rounds 5            # 5 × (general, fast)
#   … --profile general     # one cProfile of one submission through that path (or: fast)
#   … --gc-freeze          # each round also the fast path after gc.freeze() (as bin/serve runs)
#   … --all-consented       # every person has a consent here: all 10,000 entries disclosed
# The database named by DATABASE_URL is created, seeded as bench/clinic_api.py seeds it (2,000 persons,
# 40 with a real consent; the batch: the 40 consented, then registry keys of persons without one)
# and dropped at the end.
"""Benchmark: the batch pre-check of 10,000 entries, general path against fast path."""

import argparse
import cProfile
import datetime
import gc
import io
import os
import pstats
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (general, fast)")
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="each round, one more fast submission after gc.freeze() (as homeconsent.serving freezes)",
    )
    parser.add_argument("--profile", choices=["general", "fast"], help="print a cProfile of one submission")
    parser.add_argument(
        "--all-consented",
        action="store_true",
        help="give every person of the registry a consent here first (consent rows written directly), "
        "so that every entry is disclosed and logged",
    )
    options = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL=postgres://… names the database to create")
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "clinic_api_site",
            "HOMECONSENT_VAR_DIR": str(tmp / "var"),
            "DJANGO_SECRET_KEY": "bench-" + secrets.token_urlsafe(32),
            "DJANGO_DEBUG": "0",
            "HOMECONSENT_API_RATE": "5000/s",
            "HOMECONSENT_API_TOKEN_RATE": "5000/s",
        }
    )
    try:
        run(options, tmp)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def run(options, tmp: Path):
    import django

    django.setup()
    from clinic_api import prepare
    from django.test import Client, override_settings

    from clinicapi.auth import do_issue_access_token
    from clinicapi.models import ApiClient

    began = time.perf_counter()
    data = prepare(SimpleNamespace(persons=options.persons, patients=options.patients, medication=False), tmp)
    client = ApiClient.objects.get(client_id=data["client_id"])
    if options.all_consented:
        consent_everyone(client.institution)
    bearer, _ = do_issue_access_token(client, ["qualification.read", "batch.write"])
    http = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {bearer}")
    entries = data["batch"]
    print(f"ready in {time.perf_counter() - began:.1f} s ({len(entries)} entries)", flush=True)

    def submit(fast: bool, items=entries):
        with override_settings(CLINICAPI_BATCH_FAST=fast):
            t = time.perf_counter()
            response = http.post("/api/v1/batches", {"entries": items}, content_type="application/json")
            seconds = time.perf_counter() - t
        assert response.status_code == 201, response.content[:300]
        return seconds

    for fast in (False, True):  # warm-up
        submit(fast, entries[:100])
        submit(fast)
    if options.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        submit(options.profile == "fast")
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
            r"homeconsent|clinicapi|psycopg", 30
        )
        print(out.getvalue())
    times = {False: [], True: []}
    frozen = []
    for _ in range(options.rounds):
        for fast in (False, True):
            times[fast].append(submit(fast))
        if options.gc_freeze:  # the fast path again, the process's objects frozen as bin/serve's are
            gc.collect()
            gc.freeze()
            frozen.append(submit(True))
            gc.unfreeze()
    general, fast = statistics.median(times[False]), statistics.median(times[True])
    print(
        f"batch of 10,000 in-process, median of {options.rounds}: general {general:.3f} s, "
        f"fast {fast:.3f} s ({general / fast:.1f}x); all: general {[round(t, 3) for t in times[False]]}, "
        f"fast {[round(t, 3) for t in times[True]]}; load average {os.getloadavg()[0]:.2f}"
    )
    if frozen:
        print(
            f"fast after gc.freeze(), median {statistics.median(frozen):.3f} s: {[round(t, 3) for t in frozen]}"
        )


def consent_everyone(institution):
    from django.utils import timezone

    from homeconsent.consent.models import Consent, ConsentKind
    from homeconsent.registry.models import Person

    given = timezone.now() - datetime.timedelta(days=1)
    have = set(Consent.objects.filter(institution=institution).values_list("person_id", flat=True))
    Consent.objects.bulk_create(
        Consent(
            person_id=person_id,
            institution=institution,
            kind=ConsentKind.HOME_VISIT,
            items=["qualification", "limit_certificate"],
            given_at=given,
        )
        for person_id in Person.objects.values_list("pk", flat=True)
        if person_id not in have
    )


if __name__ == "__main__":
    main()
