# Access-log appends per second with N writer threads on the configured database back end:
#   .venv/bin/python bench/audit_append.py --threads 8 --events 500
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/audit_append.py --threads 8
# The number of chains (settings.AUDIT_CHAINS) is the knob: --chains 1 4 16 64 runs once per value,
# each in a fresh scratch database, and prints each rate beside the first one's. On PostgreSQL the log
# is partitioned by month; --layouts partitioned plain runs each count twice, the second time on one
# plain table (the migration's reverse), to compare.
# It writes into a scratch database created beside the configured one (SQLite: a temporary file
# with the same options; PostgreSQL: bench_audit_<pid> on the same server) and drops it afterwards,
# because the access log itself can never be cleaned up. Each append is its own transaction.
# Checkpoint folder and signing key are scratch ones too: the verification at the end checks only
# the bench's own rows and its own checkpoint, never the machine's real checkpoints or key.
#
# --bulk N instead times one append of N rows (the batch pre-check's log) in the same run, in turns:
# record_accesses' Python path (validation, hashing in Python, COPY), record_accesses on PostgreSQL's
# function (audit.sqlappend) and append_accesses (one actor's rows, little Python per row); each
# turn commits its own transaction, and the log verifies at the end.
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/audit_append.py --bulk 10000
"""Benchmark: access-log appends per second."""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")

from _scratch import run_together, scratch_database  # noqa: E402 - bench/ is the script's folder


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--events", type=int, default=500, help="appends per thread")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--bulk", type=int, default=0, help="one append of N rows, Python path against SQL")
    parser.add_argument("--repeat", type=int, default=5, help="--bulk: turns of each path")
    parser.add_argument("--chains", type=int, nargs="+", default=None, help="default: settings.AUDIT_CHAINS")
    parser.add_argument(
        "--layouts", nargs="+", choices=["partitioned", "plain"], default=["partitioned"], help="PostgreSQL"
    )
    options = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    if options.bulk:
        bulk(options)
        return
    first = None
    for chains in options.chains or [settings.AUDIT_CHAINS]:
        for layout in options.layouts:
            settings.AUDIT_CHAINS = chains
            rate = run(options, plain=layout == "plain")
            first = first or rate
            print(f"  {chains} chains: {rate / first:.2f}x the first run")


def run(options, plain: bool) -> float:
    from django.conf import settings
    from django.db import connection

    from homeconsent.audit import partitions
    from homeconsent.audit.checkpoints import write_checkpoint
    from homeconsent.audit.services import record_access
    from homeconsent.audit.verification import verify_log
    from homeconsent.registry.models import Person

    with scratch_database("audit") as scratch:
        settings.AUDIT_CHECKPOINT_DIR = scratch / "checkpoints"
        settings.AUDIT_SIGNING_KEY_PATH = scratch / "signing-key.pem"
        if plain and partitions.is_partitioned(connection):
            partitions.unpartition_table(connection)
        layout = "partitioned" if partitions.is_partitioned(connection) else "one table"
        people = Person.objects.bulk_create(
            Person(name=f"ベンチ {n}", name_kana="ベンチ", sex="1", birth_date="1950-01-01")
            for n in range(options.people)
        )
        ids = [person.pk for person in people]

        def writer(number):
            for i in range(options.events):
                record_access(
                    actor_type="institution_client",
                    actor_id=f"bench-{number}",
                    institution_code="1312345678",
                    person=ids[(number * options.events + i) % len(ids)],
                    items=["qualification", "medication"],
                    basis="consent",
                    consent_id=i,
                    detail={"endpoint": "/api/v1/eligibility"},
                )

        errors, elapsed = run_together(options.threads, writer)
        total = options.threads * options.events
        print(
            f"{connection.vendor} ({layout}): {options.threads} threads x {options.events} appends over "
            f"{settings.AUDIT_CHAINS} chains: {total / elapsed:.0f} appends/s ({elapsed:.2f} s), errors: {len(errors)}"
        )
        for error in errors[:3]:
            print(f"  {error!r}")
        write_checkpoint()  # into the scratch folder, signed with the scratch key
        began = time.perf_counter()
        report = verify_log()
        print(
            f"verify: {'OK' if report.ok else report.broken} ({report.total / (time.perf_counter() - began):.0f} rows/s)"
        )
        print(f"  {'; '.join(report.checkpoint_notes)}")
        return total / elapsed


def bulk(options) -> None:
    import statistics

    from django.conf import settings
    from django.db import connection, router, transaction
    from django.utils import timezone

    from homeconsent.audit import services
    from homeconsent.audit.models import AccessEvent
    from homeconsent.audit.sqlappend import APPEND
    from homeconsent.audit.verification import verify_log
    from homeconsent.registry.models import Person

    with scratch_database("audit_bulk") as scratch:
        settings.AUDIT_CHECKPOINT_DIR = scratch / "checkpoints"
        settings.AUDIT_SIGNING_KEY_PATH = scratch / "signing-key.pem"
        if connection.vendor != "postgresql" or not APPEND.enabled(connection):
            raise SystemExit("--bulk compares the Python path with PostgreSQL's function: set DATABASE_URL")
        people = Person.objects.bulk_create(
            Person(name=f"ベンチ {n}", name_kana="ベンチ", sex="1", birth_date="1950-01-01")
            for n in range(options.bulk)
        )
        # A batch pre-check's rows: one client, each entry's person, consent, items and index.
        ids = [person.pk for person in people]
        items = [["qualification", "limit_certificate"] if n % 4 == 0 else ["qualification"] for n in ids]
        details = [
            {"index": i, "read": "batch", "reception_number": "01234567890123456789"} for i in range(len(ids))
        ]
        constant = {
            "actor_type": "institution_client",
            "actor_id": "bench-client-0001",
            "institution_code": "1312345678",
            "basis": "consent",
        }
        entries = [
            constant | {"person": p, "items": i, "consent_id": p, "outcome": "ok", "detail": d}
            for p, i, d in zip(ids, items, details)
        ]

        stages = {"checks": [], "call": [], "commit": []}  # append_accesses' own steps, timed apart

        def in_python():  # record_accesses as it was: every row checked, hashed and copied in Python
            events = [services._prepared_event(entry) for entry in entries]
            services._append_in_python(events, router.db_for_write(AccessEvent), timezone.now())

        def appended():  # append_accesses' steps: its checks, then the function's call
            began = time.perf_counter()
            columns = services._append_columns(
                *constant.values(), ids, items, ids, ["ok"] * len(ids), details
            )
            called = time.perf_counter()
            assert services._append_in_sql(columns, router.db_for_write(AccessEvent), timezone.now())
            stages["checks"].append(called - began)
            stages["call"].append(time.perf_counter() - called)

        paths = {
            "record_accesses, Python path": in_python,
            "record_accesses, SQL function": lambda: services.record_accesses(entries),
            "append_accesses, SQL function": appended,
        }
        times = {name: [] for name in paths}
        for turn in range(options.repeat):
            for name in list(paths)[turn % 3 :] + list(paths)[: turn % 3]:  # each path first in turn
                began = time.perf_counter()
                with transaction.atomic():
                    paths[name]()
                    committing = time.perf_counter()
                times[name].append(time.perf_counter() - began)
                if paths[name] is appended:
                    stages["commit"].append(time.perf_counter() - committing)
        first = None
        print(
            f"postgresql: one append of {options.bulk} rows over {settings.AUDIT_CHAINS} chains, {options.repeat} turns"
        )
        for name, seconds in times.items():
            median = statistics.median(seconds)
            first = first or median
            print(
                f"  {name}: median {median:.3f} s, best {min(seconds):.3f} s "
                f"({options.bulk / median:,.0f} rows/s), {first / median:.1f}x the Python path"
            )
        print(
            "  append_accesses' steps (median): "
            + ", ".join(f"{stage} {statistics.median(seconds):.3f} s" for stage, seconds in stages.items())
        )
        began = time.perf_counter()
        report = verify_log()
        total = report.total
        print(
            f"verify: {'OK' if report.ok else report.broken} ({total} rows, {total / (time.perf_counter() - began):.0f} rows/s)"
        )


if __name__ == "__main__":
    main()
