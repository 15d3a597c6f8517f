# Consent: card-proved registrations per second (the server side: verify the card's answer and
# register, N threads at once) and the per-read check consent_for_read per second.
#   .venv/bin/python bench/consent_bench.py --threads 8 --patients 20 --rounds 10
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/consent_bench.py
# It works in a scratch database created beside the configured one (SQLite: a temporary file with
# the same options; PostgreSQL: bench_consent_<pid>) and a temporary test PKI, and drops both.
# The cards sign beforehand (through APDUs, as in the tests): only the server's work is timed.
"""Benchmark: consent registrations per second and consent_for_read checks per second."""

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")

from _scratch import run_together, scratch_database  # noqa: E402 - bench/ is the script's folder

# PostgreSQL plans a prepared statement afresh on each of its first five runs on a connection (custom
# plans) and makes its generic plan on the sixth: a connection's first registrations cost more, counted apart.
COLD = 6


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--patients", type=int, default=20, help="virtual cards (RSA key generation each)")
    parser.add_argument("--rounds", type=int, default=10, help="consents per patient")
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument(
        "--two-step",
        action="store_true",
        help="verify_card_authentication, then do_register_consent: two transactions (the path before "
        "do_register_card_consent)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="alternate the two paths registration by registration and time each apart (same load)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then the statements of one registration with their times, and cProfile of 20 more",
    )
    options = parser.parse_args()

    import django

    django.setup()
    from cryptography import x509
    from django.conf import settings
    from django.db import connection

    from homeconsent.consent.challenges import verify_card_authentication
    from homeconsent.consent.services import (
        consent_for_read,
        do_register_card_consent,
        do_register_consent,
        issue_consent_challenge,
    )
    from homeconsent.jpki.card import VirtualJPKICard, issue_card_file
    from homeconsent.jpki.pki import TestPKI, do_register_card_certificate
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, Insurer, Person, Qualification
    from tests.cards import card_answer

    with scratch_database("consent") as scratch:
        pki = TestPKI(scratch / "pki").init()
        settings.JPKI_TRUST_ROOTS, settings.JPKI_CRLS = [pki.root_path], [pki.crl_path]
        settings.CONSENT_WEBHOOK_INLINE = "off"
        insurer = Insurer.objects.create(number="01130012", name="協会けんぽ", kind="kyokai", prefecture="13")
        institutions = [
            Institution.objects.create(code=with_check_digit(f"1312{n:05d}"), name=f"ベンチ診療所 {n}")
            for n in range(4)
        ]
        made = time.perf_counter()
        cards = []
        for n in range(options.patients):
            person = Person.objects.create(
                name=f"ベンチ {n}", name_kana="ベンチ", sex="1", birth_date=datetime.date(1950, 1, 1)
            )
            Qualification.objects.create(
                person=person,
                insurer=insurer,
                number=str(n),
                branch="00",
                personal_family="1",
                acquired_on=datetime.date(2020, 4, 1),
                contribution_ratio="030",
            )
            path = issue_card_file(pki, scratch / f"card-{n}.json", pin="1234", birth_date=person.birth_date)
            card = VirtualJPKICard.load(path)
            do_register_card_certificate(person, x509.load_der_x509_certificate(card.auth_cert_der))
            cards.append((person, card))
        print(f"{options.patients} cards made in {time.perf_counter() - made:.1f} s")
        answers = []
        for round_ in range(options.rounds):
            for n, (_person, card) in enumerate(cards):
                institution = institutions[(n + round_) % len(institutions)]
                challenge = issue_consent_challenge(institution, kind="home_visit", items=["medication"])
                certificate, signature = card_answer(card, challenge.digest_info(), "1234")
                answers.append((challenge.nonce, certificate, signature))

        latencies = []

        def register(nonce, certificate, signature, two_step=options.two_step, **terms):
            if two_step:
                verified = verify_card_authentication(nonce, certificate, signature, "consent")
                return do_register_consent(verified, **terms)
            return do_register_card_consent(nonce, certificate, signature, **terms)

        cold = []  # each thread's first COLD registrations: a new connection, statements not yet prepared
        by_path = {False: [], True: []}  # --compare: two_step -> warm latencies

        def worker(number):
            for done, (nonce, certificate, signature) in enumerate(answers[number :: options.threads]):
                two_step = options.two_step or (options.compare and done % 2 == 1)
                began = time.perf_counter()
                register(nonce, certificate, signature, two_step, kind="home_visit", items=["medication"])
                spent = time.perf_counter() - began
                (cold if done < COLD else latencies).append(spent)
                if done >= COLD:
                    by_path[two_step].append(spent)

        errors, elapsed = run_together(options.threads, worker)
        q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
        print(
            f"{connection.vendor}: {options.threads} threads, {len(latencies) + len(cold)} registrations "
            f"({'alternating paths' if options.compare else 'two transactions' if options.two_step else 'one transaction'}: verify + register): "
            f"{(len(latencies) + len(cold)) / elapsed:.0f}/s ({elapsed:.2f} s); errors: {len(errors)}\n"
            f"  after each connection's first {COLD}: p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms "
            f"({len(latencies)}); those first {COLD}: median {statistics.median(cold or [0]) * 1000:.1f} ms"
        )
        if options.compare:
            for two_step, spent in by_path.items():
                p = statistics.quantiles(spent, n=100) if len(spent) > 1 else [0] * 99
                print(
                    f"  {'two transactions' if two_step else 'one transaction '}: p50 {p[49] * 1000:.1f} ms, "
                    f"p99 {p[98] * 1000:.1f} ms ({len(spent)})"
                )
        for error in errors[:3]:
            print(f"  {error!r}")

        if options.profile:
            profile_registrations(options, cards, institutions, register)

        # Every (institution, person) pair in turn, and an institution nobody consented to: both the
        # allowed answer and the refusal are timed (each pair holds a medication consent by now).
        persons = [person for person, _ in cards]
        stranger = Institution.objects.create(code=with_check_digit("131299999"), name="同意のない診療所")
        pairs = [(institution, person) for institution in [*institutions, stranger] for person in persons]
        began = time.perf_counter()
        allowed = 0
        for i in range(options.reads):
            institution, person = pairs[i % len(pairs)]
            allowed += consent_for_read(institution.code, person, "medication") is not None
        elapsed = time.perf_counter() - began
        print(
            f"consent_for_read: {options.reads / elapsed:.0f} checks/s single-threaded "
            f"({elapsed / options.reads * 1000:.2f} ms each; {allowed} allowed, "
            f"{options.reads - allowed} refused)"
        )


def profile_registrations(options, cards, institutions, register):
    """Where one registration's server time goes: its statements, then cProfile of 20 (one thread)."""
    import cProfile
    import io
    import pstats

    from django.db import DEFAULT_DB_ALIAS, connection, connections

    from homeconsent.consent.services import issue_consent_challenge
    from tests.cards import card_answer

    def answer(n):
        person, card = cards[n % len(cards)]
        # Medication kept in the terms, so the reads timed afterwards still find it consented to.
        challenge = issue_consent_challenge(
            institutions[n % len(institutions)], kind="home_visit", items=["medication", "checkup"]
        )
        return card_answer(card, challenge.digest_info(), "1234"), challenge.nonce

    def registration(signed):
        (certificate, signature), nonce = signed
        register(nonce, certificate, signature, kind="home_visit", items=["medication", "checkup"])

    statements = []

    def timed(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append(((time.perf_counter() - began) * 1000, sql[:110]))

    # Commits go past the execute wrappers: the connection's own commit is timed too.
    real = connections[DEFAULT_DB_ALIAS]
    commit = real._commit

    def timed_commit():
        began = time.perf_counter()
        try:
            return commit()
        finally:
            statements.append(((time.perf_counter() - began) * 1000, "COMMIT"))

    for n in range(100, 100 + COLD):  # this connection's statements past their first plans
        registration(answer(n))
    signed = answer(0)
    real._commit = timed_commit
    try:
        with connection.execute_wrapper(timed):
            began = time.perf_counter()
            registration(signed)
            total = (time.perf_counter() - began) * 1000
    finally:
        del real._commit
    commits = sum(sql == "COMMIT" for _, sql in statements)
    print(
        f"one registration: {total:.1f} ms, {len(statements) - commits} statements and {commits} commit(s), "
        f"{sum(t for t, _ in statements):.1f} ms in them"
    )
    for spent, sql in statements:
        print(f"  {spent:6.2f} ms  {sql}")
    signed = [answer(n) for n in range(1, 21)]
    profiler = cProfile.Profile()
    profiler.enable()
    for one in signed:
        registration(one)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(
        os.environ.get("BENCH_FILTER", r"homeconsent|django/db|psycopg|cryptography"), 30
    )
    print(out.getvalue())


if __name__ == "__main__":
    main()
