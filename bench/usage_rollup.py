# Usage statistics: the rollup of the access log and the report query at 1 M and 10 M log rows.
#   .venv/bin/python bench/usage_rollup.py                       # 1 M then 10 M rows, scratch SQLite
#   .venv/bin/python bench/usage_rollup.py --sizes 1000000       # 1 M only
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/usage_rollup.py
# Synthetic rows (a mix of every kind the rollup counts or skips, over 24 months, 16 chains) are
# bulk-inserted with executemany straight into a scratch database's access-log table (their hashes
# are placeholders: the bench measures counting, not the chain), up to each size in turn. At each
# size it times: the rollup of everything not yet rolled up, then an incremental run after 10,000
# more rows (what a nightly or hourly cron run costs), and the report of 24 months (median of 20).
"""Benchmark: usage rollup and report query times against the access-log size."""

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")

from _scratch import scratch_database  # noqa: E402 - bench/ is the script's folder

CHAINS = 16
INSERT_BATCH = 20_000
COLUMNS = [
    "chain", "seq", "occurred_at", "actor_type", "actor_id", "institution_code", "person_id", "items",
    "basis", "outcome", "consent_id", "detail", "prev_hash", "hash",
]  # fmt: skip


def templates(connection, person_ids, consents, count=4096):
    """Row contents without chain and seq: every kind the access log holds, in rough proportions."""
    rng = random.Random(17)
    codes = [f"{pref:02d}{kind}1234567" for pref in range(1, 48) for kind in "1346"]
    kinds = ["reader"] * 40 + ["app"] * 10 + ["batch"] * 10 + ["batch_results"] * 5 + ["requery"] * 10
    kinds += [
        "emergency",
        "disaster",
        "qualification_only",
        "refused",
        "self",
        "self",
        "registered",
        "cancelled",
    ]
    rows = []
    for _ in range(count):
        at = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            seconds=rng.randrange(730 * 86400)
        )
        kind = rng.choice(kinds)
        basis, outcome, consent, detail, actor = "consent", "ok", None, {}, "institution_client"
        if kind in ("reader", "app", "batch", "batch_results"):
            consent = str(rng.choice(consents["app" if kind == "app" else "reader"]))
            detail = {"read": kind if kind.startswith("batch") else "eligibility"}
        elif kind in ("requery", "emergency", "disaster", "qualification_only"):
            basis = kind
        elif kind == "refused":
            outcome = "refused"
        elif kind == "self":
            actor, basis = "patient", "self"
        else:
            actor, basis, detail = "patient", "self", {"action": f"consent_{kind}"}
        rows.append(
            (
                connection.ops.adapt_datetimefield_value(at), actor, "bench", rng.choice(codes),
                rng.choice(person_ids), '["qualification"]', basis, outcome, consent,
                json.dumps(detail), "0" * 64, "0" * 64,
            )
        )  # fmt: skip
    return rows


def append(connection, pool, heads, count, rng):
    """count more rows, spread over the chains, with the chain heads kept in step."""
    table = connection.ops.quote_name("audit_accessevent")
    marks = ", ".join(["%s"] * len(COLUMNS))
    sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks})"
    done = 0
    while done < count:
        batch = []
        for _ in range(min(INSERT_BATCH, count - done)):
            chain = done % CHAINS
            heads[chain] += 1
            batch.append((chain, heads[chain], *pool[rng.randrange(len(pool))]))
            done += 1
        with connection.cursor() as cursor:
            cursor.executemany(sql, batch)
    from homeconsent.audit.models import ChainHead

    for chain, seq in heads.items():
        ChainHead.objects.update_or_create(chain=chain, defaults={"seq": seq, "head_hash": "0" * 64})


def grow(connection, heads, base, count):
    """count more rows (whole blocks of base) as copies of the first `base` rows, seq shifted past
    each chain's head, in SQL: much faster than building them in Python, and the same mix of rows."""
    from homeconsent.audit.models import ChainHead

    table = connection.ops.quote_name("audit_accessevent")
    block = base // CHAINS
    rest = ", ".join(COLUMNS[2:])
    assert len(set(heads.values())) == 1, "chains of equal length: one offset for all"
    for _ in range(count // base):
        offset = heads[0]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(COLUMNS)}) SELECT chain, seq + %s, {rest} FROM {table} "
                f"WHERE seq <= %s",
                [offset, block],
            )
        for chain in heads:
            heads[chain] += block
    for chain, seq in heads.items():
        ChainHead.objects.update_or_create(chain=chain, defaults={"seq": seq, "head_hash": "0" * 64})


def timed(work):
    began = time.perf_counter()
    result = work()
    return result, time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,10000000", help="log sizes, ascending")
    parser.add_argument("--increment", type=int, default=10_000)
    parser.add_argument("--base", type=int, default=96_000, help="rows built in Python; the rest: SQL copies")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]

    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from homeconsent.consent.models import Consent
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, Person
    from homeconsent.usage import report
    from homeconsent.usage.rollup import do_rollup_usage

    with scratch_database("usage") as _scratch:
        people = Person.objects.bulk_create(
            Person(name=f"ベンチ {n}", name_kana="ベンチ", sex="1", birth_date="1950-01-01")
            for n in range(400)
        )
        institution = Institution.objects.create(code=with_check_digit("131000011"), name="ベンチ医院")
        consents = {"reader": [], "app": []}
        for n, person in enumerate(people):
            auth = "app" if n % 4 == 0 else "reader"
            consents[auth].append(
                Consent.objects.create(
                    person=person, institution=institution, kind="home_visit", items=["qualification"],
                    given_at=timezone.now(), authenticator=auth,
                ).pk
            )  # fmt: skip
        pool = templates(connection, [p.pk for p in people], consents)
        rng = random.Random(5)
        heads = dict.fromkeys(range(CHAINS), 0)
        months = report.months_between(datetime.date(2025, 1, 1), datetime.date(2026, 12, 1))
        total = 0
        print(
            f"{connection.vendor}: rows | fill s | rollup s (rows/s) | +{options.increment} rollup s | report ms p50 (max)"
        )
        for size in sizes:

            def fill_to(size=size, total=total):
                with transaction.atomic():
                    first = max(0, min(options.base, size) - total)  # the block the copies repeat
                    append(connection, pool, heads, first, rng)
                    copies = (size - total - first) // options.base * options.base
                    grow(connection, heads, options.base, copies)
                    append(connection, pool, heads, size - total - first - copies, rng)

            _none, fill = timed(fill_to)
            read, rollup = timed(do_rollup_usage)
            total = size
            _none, _fill2 = timed(
                lambda: transaction.atomic()(append)(connection, pool, heads, options.increment, rng)
            )
            total += options.increment
            more, incremental = timed(do_rollup_usage)
            assert more == options.increment, more
            queries = [timed(lambda: report.usage_tables(months))[1] * 1000 for _ in range(20)]
            print(
                f"{size:,} | {fill:.1f} | {rollup:.1f} ({read / rollup:,.0f}) | {incremental:.2f} | "
                f"{statistics.median(queries):.1f} ({max(queries):.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
