# Registry: seed time and eligibility lookup latency at 10,000 versus 100,000 persons.
#   .venv/bin/python bench/registry_bench.py
#   .venv/bin/python bench/registry_bench.py --sizes 10000,100000 --lookups 2000
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/registry_bench.py
# Always runs on a temporary SQLite file; also on PostgreSQL (a scratch database bench_registry_<pid>,
# dropped after) when DATABASE_URL names one. Seeds up to each size in turn (chunks of 2,000 persons,
# one transaction each; the seed time for the largest size is the sum of the stages), then times
# resolve_by_keys(include_limit=True) for a fixed random mix of keys: 80 % existing periods (open,
# lost and changed ones) and 20 % keys that match nothing. Single-threaded; prints p50/p90/p99.
"""Benchmark: registry seeding and eligibility lookups."""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_backend(sizes, lookups):
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    db = settings.DATABASES["default"]
    scratch = tempfile.mkdtemp(prefix="bench-registry-")
    db.setdefault("TEST", {})["NAME"] = (
        os.path.join(scratch, "bench.sqlite3")
        if db["ENGINE"].endswith("sqlite3")
        else f"bench_registry_{os.getpid()}"
    )
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    results = {"database": connection.vendor, "stages": []}
    try:
        from homeconsent.registry.eligibility import resolve_by_keys
        from homeconsent.registry.models import Qualification
        from homeconsent.registry.seeding import seed_registry

        seeded, seed_seconds, rows = 0, 0.0, 0
        for stage, size in enumerate(sizes):
            summary = seed_registry(size - seeded, seed=100 + stage, chunk_size=2000)
            seeded = size
            seed_seconds += summary.seconds
            rows += sum(v for k, v in summary.counts.items() if k not in ("Institution", "Insurer"))
            rng = random.Random(size)
            last = Qualification.objects.order_by("-pk").values_list("pk", flat=True).first()
            ids = rng.sample(range(1, last + 1), min(last, int(lookups * 0.8)))
            keys = [
                (number, symbol, qnumber, branch, birth.isoformat())
                for number, symbol, qnumber, branch, birth in Qualification.objects.filter(
                    pk__in=ids
                ).values_list("insurer__number", "symbol", "number", "branch", "person__birth_date")
            ]
            misses = [(k[0], k[1], k[2] + "9", k[3], k[4]) for k in rng.sample(keys, lookups - len(keys))]
            keys += misses
            rng.shuffle(keys)
            for k in keys[:200]:  # warm caches and the connection
                resolve_by_keys(*k, include_limit=True)
            timings, validity = [], {}
            for k in keys:
                start = time.perf_counter()
                result = resolve_by_keys(*k, include_limit=True)
                timings.append((time.perf_counter() - start) * 1000)
                validity[int(result.validity)] = validity.get(int(result.validity), 0) + 1
            results["stages"].append(
                {
                    "persons": size,
                    "rows": rows,
                    "seed_seconds": round(seed_seconds, 1),
                    "lookups": len(timings),
                    "p50_ms": round(percentile(timings, 50), 3),
                    "p90_ms": round(percentile(timings, 90), 3),
                    "p99_ms": round(percentile(timings, 99), 3),
                    "mean_ms": round(statistics.fmean(timings), 3),
                    "validity": dict(sorted(validity.items())),
                }
            )
            print(json.dumps(results["stages"][-1]), file=sys.stderr, flush=True)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="persons at each measurement, ascending")
    parser.add_argument("--lookups", type=int, default=2000, help="timed lookups per size")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]

    if options.backend:  # child process: one back end
        os.environ.setdefault("HOMECONSENT_VAR_DIR", tempfile.mkdtemp(prefix="homeconsent-bench-"))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")
        print(json.dumps(run_backend(sizes, options.lookups)))
        return

    backends = [("sqlite", {k: v for k, v in os.environ.items() if k != "DATABASE_URL"})]
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        backends.append(("postgres", dict(os.environ)))
    for name, env in backends:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--backend",
                name,
                "--sizes",
                options.sizes,
                "--lookups",
                str(options.lookups),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"\n== {result['database']}: eligibility lookups (resolve_by_keys, include_limit=True)")
        print(
            f"{'persons':>9} {'rows':>11} {'seed s':>8} {'lookups':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  validity"
        )
        for s in result["stages"]:
            print(
                f"{s['persons']:>9,} {s['rows']:>11,} {s['seed_seconds']:>8} {s['lookups']:>8} {s['p50_ms']:>8} "
                f"{s['p90_ms']:>8} {s['p99_ms']:>8}  {s['validity']}"
            )


if __name__ == "__main__":
    main()
