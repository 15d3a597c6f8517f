# What the FHIR representation costs next to the national-names JSON:
#   .venv/bin/python bench/fhir_render.py
#   .venv/bin/python bench/fhir_render.py --persons 300 --rounds 300
# On a scratch SQLite database in a temporary folder: migrate, seed a registry, give every person
# with medication a home-visit consent at one institution, and read their eligibility and
# medication once (clinicapi.reads, as the views do). Then, in-process and single-threaded:
#  1. building the answer from the same read objects: presenters.* + JSON encoding against
#     fhir.*_bundle + JSON encoding (microseconds per answer);
#  2. whole requests through Django's test client with a real bearer token, Accept: application/json
#     against Accept: application/fhir+json (milliseconds per request, p50 and p99).
"""Benchmark: FHIR against JSON rendering of the institutions' API answers."""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup(var_dir: str):
    sys.path.insert(0, str(ROOT))
    os.environ["HOMECONSENT_VAR_DIR"] = var_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "homeconsent.settings"
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.conf import settings

    settings.CLINICAPI_THROTTLE_RATES = {"client": "10000000/min", "token": "10000000/min"}
    settings.ALLOWED_HOSTS = ["testserver"]
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(fn, rounds):
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fhir-") as var_dir:
        setup(var_dir)
        run(args)


def run(args):
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from clinicapi import fhir, presenters, reads
    from clinicapi.auth import ApiAccess, do_issue_access_token, do_register_client
    from clinicapi.client.core import generate_key, public_jwk
    from clinicapi.patients import patient_id_for
    from homeconsent.consent.models import Consent
    from homeconsent.registry.models import Institution, MedicationRecord, Person
    from homeconsent.registry.seeding import seed_registry

    seed_registry(args.persons, seed=11)
    institution = Institution.objects.create(code="0110113719", name="札幌在宅クリニック")
    scopes = ["qualification.read", "medication.read", "consent.read"]
    api_client = do_register_client(
        institution, "bench", {"keys": [public_jwk(generate_key("ES256"))]}, scopes
    )
    token, record = do_issue_access_token(api_client, scopes)
    access = ApiAccess(
        client_id=api_client.client_id,
        institution_code=institution.code,
        scopes=frozenset(scopes),
        token_id=record.pk,
        expires_at=record.expires_at,
    )
    persons = list(
        Person.objects.filter(pk__in=MedicationRecord.objects.values("person_id")).order_by("pk")[:50]
    )
    for person in persons:
        Consent.objects.create(
            person=person,
            institution=institution,
            kind="home_visit",
            items=["medication", "qualification"],
            given_at=timezone.now() - timedelta(days=1),
        )
    pids = [patient_id_for(institution.code, p.pk) for p in persons]
    eligibility = [reads.eligibility(access, pid) for pid in pids]
    medication = [
        reads.medication(access, pid, month_from=timezone.localdate().replace(day=1) - timedelta(days=400))
        for pid in pids
    ]
    records = sum(len(r.records) for r in medication) / len(medication)
    print(
        f"{args.persons} persons seeded; {len(pids)} consented patients, {records:.1f} medication records each"
    )

    BASE = "http://testserver/api/v1/fhir/"

    def dumps(data):
        return json.dumps(data, ensure_ascii=False)

    print("\n1. answer built from the read objects (µs per answer, p50 / p99)")
    print(f"{'answer':<14}{'JSON':>22}{'FHIR':>22}{'ratio':>8}")
    for name, rows, as_json, as_fhir in (
        (
            "eligibility",
            eligibility,
            presenters.eligibility,
            lambda r: fhir.eligibility_bundle(r, base_url=BASE),
        ),
        (
            "medication",
            medication,
            presenters.medication,
            lambda r: fhir.medical_bundle(r, "medication", base_url=BASE),
        ),
    ):
        state = {"i": 0}

        def one(build):
            row = rows[state["i"] % len(rows)]
            state["i"] += 1
            dumps(build(row))

        j50, j99 = timed(lambda: one(as_json), args.rounds)
        f50, f99 = timed(lambda: one(as_fhir), args.rounds)
        print(
            f"{name:<14}{j50 * 1e6:>12.0f} / {j99 * 1e6:<7.0f}{f50 * 1e6:>12.0f} / {f99 * 1e6:<7.0f}{f50 / j50:>7.1f}x"
        )

    print("\n2. whole requests through Django (ms per request, p50 / p99)")
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    print(f"{'endpoint':<14}{'JSON':>20}{'FHIR':>20}")
    for name, path in (
        ("eligibility", "/api/v1/patients/{}/eligibility"),
        ("medication", "/api/v1/patients/{}/medication"),
    ):
        state = {"i": 0}

        def call(accept):
            pid = pids[state["i"] % len(pids)]
            state["i"] += 1
            response = client.get(path.format(pid), HTTP_ACCEPT=accept, **auth)
            assert response.status_code == 200, response.content

        j50, j99 = timed(lambda: call("application/json"), args.rounds)
        f50, f99 = timed(lambda: call("application/fhir+json"), args.rounds)
        print(f"{name:<14}{j50 * 1e3:>10.2f} / {j99 * 1e3:<7.2f}{f50 * 1e3:>10.2f} / {f99 * 1e3:<7.2f}")


if __name__ == "__main__":
    main()
