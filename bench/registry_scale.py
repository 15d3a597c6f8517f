# Registry at scale: the API's eligibility and medication reads at 10,000 and at 1,000,000 persons.
#   .venv/bin/python bench/registry_scale.py --server postgres://postgres@127.0.0.1:5432
#   .venv/bin/python bench/registry_scale.py --server postgres://… --sizes 10000,1000000 --keep
#   .venv/bin/python bench/registry_scale.py --server postgres://… --database 1000000=hc_big
# One PostgreSQL database per size (bench_registry_<size>, or the name given by --database SIZE=NAME).
# A database that does not exist yet is created, migrated and seeded (`seed_registry`, timed and
# printed); one that exists is used as it is, so a million persons are seeded once. Each database gets
# a bench institution, an API client and real consents (virtual cards sign the consent challenge) of
# --patients persons drawn at random among those insured today. Then, in rounds that alternate
# between the databases (so both see the same machine load), the institutions' API reads
# `clinicapi.reads.eligibility` and `clinicapi.reads.medication` (the 3 months an institution gets by
# default, and the whole 3 years kept) run single-threaded for those patients, each with its consent
# check and access-log row. Prints p50/p90/p99 per size and the ratio of each to the smallest size.
# Databases this run created are dropped at the end unless --keep.
"""Benchmark: eligibility and medication reads of the institutions' API against the registry's size."""

import argparse
import datetime
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")

from registry_bench import percentile  # noqa: E402 - bench/ is the script's folder

READS = ("eligibility", "medication 3 months", "medication 3 years")


def admin_connect(server):
    import psycopg

    return psycopg.connect(urllib.parse.urlsplit(server)._replace(path="/postgres").geturl(), autocommit=True)


def wrapper_for(name):
    """A connection of its own to database `name`, with the settings of the default one."""
    from django.db import connections

    default = connections["default"]
    return type(default)({**default.settings_dict, "NAME": name}, "default")


def prepare(size, name, created, patients, scratch, pki):
    """Seed `name` if this run created it; consents for `patients` persons; their patient ids."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.core.management import call_command
    from django.db.models import Q

    from clinicapi.auth import ApiAccess, do_register_client
    from clinicapi.patients import patient_id_for
    from homeconsent.consent.challenges import verify_card_authentication
    from homeconsent.consent.models import Consent, ConsentItem
    from homeconsent.consent.rules import today
    from homeconsent.consent.services import consent_for_read, do_register_consent, issue_consent_challenge
    from homeconsent.jpki.card import VirtualJPKICard
    from homeconsent.jpki.pki import issue_virtual_card
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, Person, Qualification
    from homeconsent.registry.seeding import seed_registry
    from tests.cards import card_answer

    if created:
        call_command("migrate", verbosity=0)
        summary = seed_registry(size, seed=1)
        print(f"  seeded {name}: {summary.seconds:.1f} s, {sum(summary.counts.values()):,} rows")
    persons = Person.objects.count()
    if persons != size:
        raise SystemExit(f"{name} holds {persons:,} persons, not {size:,}")
    institution, _ = Institution.objects.get_or_create(
        code=with_check_digit("131999998"), defaults={"name": "ベンチ在宅クリニック"}
    )
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench"}
    scopes = ["qualification.read", "medication.read"]
    client = do_register_client(institution, f"scale-{os.getpid()}", {"keys": [jwk]}, scopes)
    access = ApiAccess(
        client_id=client.client_id,
        institution_code=institution.code,
        scopes=frozenset(scopes),
        token_id=0,
        expires_at=datetime.datetime.max.replace(tzinfo=datetime.UTC),
    )
    # Consents of an earlier run (a kept database) are read again rather than registered anew.
    consented = Consent.objects.filter(institution=institution).values_list("person_id", flat=True)
    chosen = sorted(
        {p for p in consented if consent_for_read(institution.code, p, ConsentItem.MEDICATION) is not None}
    )[:patients]
    day = today()
    rng = random.Random(size)
    last = Person.objects.order_by("-pk").values_list("pk", flat=True).first()
    items = ["medication", "limit_certificate"]
    while len(chosen) < patients:
        candidates = rng.sample(range(1, last + 1), 4 * patients)
        insured = Qualification.objects.filter(
            Q(lost_on__isnull=True) | Q(lost_on__gt=day), person_id__in=candidates, acquired_on__lte=day
        ).values_list("person_id", flat=True)
        insured = set(insured)
        new = [p for p in candidates if p in insured and p not in chosen][: patients - len(chosen)]
        for person in Person.objects.filter(pk__in=new):
            issued = issue_virtual_card(person, "4826", scratch / f"cards-{size}", pki=pki)
            challenge = issue_consent_challenge(institution, kind="home_visit", items=items)
            card = VirtualJPKICard.load(issued.path)
            certificate, signature = card_answer(card, challenge.digest_info(), "4826")
            verified = verify_card_authentication(challenge.nonce, certificate, signature, "consent")
            do_register_consent(verified, kind="home_visit", items=items)
        chosen += new
    return access, [patient_id_for(institution.code, p) for p in chosen]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True, help="postgres://user@host:port (any database name)")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--database", action="append", default=[], help="SIZE=NAME: use this database")
    parser.add_argument("--patients", type=int, default=300, help="consented persons per size")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the databases this run created")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    names = {size: f"bench_registry_{size}" for size in sizes}
    names.update({int(k): v for k, v in (d.split("=", 1) for d in options.database)})
    os.environ["DATABASE_URL"] = options.server

    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    from clinicapi.reads import eligibility, medication
    from homeconsent.dates import add_years
    from homeconsent.jpki.pki import TestPKI

    scratch = Path(tempfile.mkdtemp(prefix="bench-registry-scale-"))
    pki = TestPKI(scratch / "pki").init()
    settings.JPKI_TRUST_ROOTS, settings.JPKI_CRLS = [pki.root_path], [pki.crl_path]
    settings.CONSENT_WEBHOOK_INLINE = "off"
    with admin_connect(options.server) as admin:
        existing = {r[0] for r in admin.execute("SELECT datname FROM pg_database")}
        created = [size for size in sizes if names[size] not in existing]
        for size in created:
            admin.execute(f'CREATE DATABASE "{names[size]}"')
    wrappers, setups = {}, {}
    try:
        print(f"load average at start: {os.getloadavg()}")
        for size in sizes:
            wrappers[size] = wrapper_for(names[size])
            connections["default"] = wrappers[size]
            started = time.perf_counter()
            setups[size] = prepare(size, names[size], size in created, options.patients, scratch, pki)
            print(
                f"  {names[size]}: ready with {options.patients} consents in {time.perf_counter() - started:.1f} s"
            )

        three_years_ago = add_years(datetime.date.today(), -3).replace(day=1)
        calls = {
            "eligibility": lambda access, pid: eligibility(access, pid),
            "medication 3 months": lambda access, pid: medication(access, pid),
            "medication 3 years": lambda access, pid: medication(access, pid, month_from=three_years_ago),
        }
        timings = {(size, read): [] for size in sizes for read in READS}
        rows = {size: [] for size in sizes}
        for size in sizes:  # warm each database's caches once for the patients read
            connections["default"] = wrappers[size]
            access, patients = setups[size]
            for pid in patients:
                for call in calls.values():
                    call(access, pid)
        for _ in range(options.rounds):
            for size in sizes:
                connections["default"] = wrappers[size]
                access, patients = setups[size]
                for pid in patients:
                    for read, call in calls.items():
                        start = time.perf_counter()
                        result = call(access, pid)
                        timings[(size, read)].append((time.perf_counter() - start) * 1000)
                        if read == "medication 3 years":
                            rows[size].append(len(result.records))
        print(f"load average at end: {os.getloadavg()}")
        smallest = sizes[0]
        print(
            f"{'persons':>10} {'read':<20} {'calls':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'p50 ×':>6}"
        )
        for size in sizes:
            for read in READS:
                t = timings[(size, read)]
                base = statistics.median(timings[(smallest, read)])
                print(
                    f"{size:>10,} {read:<20} {len(t):>6} {percentile(t, 50):>8.2f} {percentile(t, 90):>8.2f}"
                    f" {percentile(t, 99):>8.2f} {statistics.median(t) / base:>6.2f}"
                )
            print(
                f"{'':>10} medication rows per 3-year read: mean {statistics.mean(rows[size]):.1f}, max {max(rows[size])}"
            )
    finally:
        connections.close_all()
        for wrapper in wrappers.values():
            wrapper.close()
        if not options.keep:
            with admin_connect(options.server) as admin:
                for size in created:
                    admin.execute(f'DROP DATABASE IF EXISTS "{names[size]}" WITH (FORCE)')


if __name__ == "__main__":
    main()
