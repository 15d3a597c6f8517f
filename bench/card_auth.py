# Card authentications verified per second on the configured database back end:
#   .venv/bin/python bench/card_auth.py --count 500
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/card_auth.py
# Measures (1) the pure check of a signed message (trust store, CRL, RSA verify) and (2) the whole
# server side of one card authentication: issue a challenge, verify the card's answer (lock, mark
# used, check, resolve the person). Card signatures are made with the card key directly: the card
# itself is not what is measured. Runs in a scratch database and a temporary test PKI.
"""Benchmark: card-authentication verifications per second."""

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")

from _scratch import scratch_database  # noqa: E402 - bench/ is the script's folder


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--revoked", type=int, default=1000, help="entries on the CRL")
    options = parser.parse_args()

    import django

    django.setup()
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from django.conf import settings
    from django.db import connection

    from homeconsent.consent.challenges import issue_challenge, verify_card_authentication
    from homeconsent.jpki.pki import TestPKI, do_register_card_certificate
    from homeconsent.jpki.verification import verify_signed_message
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, Person

    with scratch_database("card_auth") as scratch:
        pki = TestPKI(scratch / "pki").init()
        settings.JPKI_TRUST_ROOTS = [pki.root_path]
        settings.JPKI_CRLS = [pki.crl_path]
        pki.revoke_all(range(1, options.revoked + 1))  # a CRL of some length, as the real one has

        person = Person.objects.create(
            name="ベンチ", name_kana="ベンチ", sex="1", birth_date=date(1950, 1, 1)
        )
        institution = Institution.objects.create(code=with_check_digit("131234567"), name="ベンチ医院")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = pki.issue_user_auth_certificate(key.public_key(), person.birth_date)
        do_register_card_certificate(person, certificate)
        certificate_der = certificate.public_bytes(serialization.Encoding.DER)

        message = b"bench message"
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        started = time.perf_counter()
        for _ in range(options.count):
            verify_signed_message(message, certificate_der, signature)
        pure = time.perf_counter() - started

        answers = []
        for _ in range(options.count):
            challenge = issue_challenge(
                "consent", institution, ["qualification", "medication"], kind="home_visit"
            )
            answers.append(
                (challenge.nonce, key.sign(challenge.message(), padding.PKCS1v15(), hashes.SHA256()))
            )
        started = time.perf_counter()
        for nonce, answer in answers:
            assert verify_card_authentication(nonce, certificate_der, answer, "consent").person == person
        full = time.perf_counter() - started

        print(f"database: {connection.vendor}; CRL entries: {options.revoked}; count: {options.count}")
        print(
            f"signed-message checks: {options.count / pure:,.0f}/s ({pure / options.count * 1000:.2f} ms each)"
        )
        print(
            f"card authentications:  {options.count / full:,.0f}/s ({full / options.count * 1000:.2f} ms each)"
        )


if __name__ == "__main__":
    main()
