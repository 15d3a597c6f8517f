# The server cost of one consent by the phone route (authentication app: code exchange at the
# provider's token endpoint, ID-token verification against its JWKS, userinfo, person resolution,
# registration) beside one by the reader route (card signature and certificate checks, registration),
# in the same run, same database, same person. The stand-in provider runs as its own process; the
# patient's part (the PIN on the app's screen, the card signing) happens before the clock starts.
#   .venv/bin/python bench/app_route.py --rounds 20
"""Benchmark: server time of one app-route consent beside one reader-route consent."""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")
# The stand-in provider listens on plain http on 127.0.0.1 (production issuers are https).
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

from _scratch import scratch_database  # noqa: E402 - bench/ is the script's folder


def percentiles(values):
    q = statistics.quantiles(values, n=100) if len(values) > 1 else [values[0]] * 99
    return f"p50 {q[49] * 1000:.1f} ms, p90 {q[89] * 1000:.1f} ms (n={len(values)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    options = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_test_environment

    from homeconsent.authapp.keys import client_jwks
    from homeconsent.consent.entry import entry_for
    from homeconsent.consent.models import Consent
    from homeconsent.jpki.pki import TestPKI, issue_virtual_card
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, Insurer, Person, Qualification
    from tests.authapp.conftest import AppPageClient as Client
    from tests.authapp.conftest import JsonServer, PhoneApp, callback_path, start_provider
    from tests.consent.test_pages import card_answer, post_json, url, walk_to_card

    setup_test_environment()
    with scratch_database("app_route") as scratch:
        pki = TestPKI(scratch / "pki").init()
        settings.JPKI_TRUST_ROOTS, settings.JPKI_CRLS = [pki.root_path], [pki.crl_path]
        settings.CONSENT_WEBHOOK_INLINE = "off"
        settings.CHALLENGE_RATE_LIMITS = {"ip": 0, "entry": 0, "session": 0}
        settings.AUTH_APP_CLIENT_KEY_FILE = scratch / "client-key.pem"
        settings.AUTH_APP_REDIRECT_URI = "http://testserver/consent/app/callback"
        insurer = Insurer.objects.create(number="01130012", name="協会けんぽ", kind="kyokai", prefecture="13")
        institution = Institution.objects.create(code=with_check_digit("131200001"), name="ベンチ訪問看護")
        entry = entry_for(institution)
        address = "東京都千代田区霞が関1丁目2番3号"
        import datetime

        person = Person.objects.create(
            name="ベンチ 花子",
            name_kana="ベンチ ハナコ",
            sex="2",
            birth_date=datetime.date(1950, 1, 1),
            address=address,
        )
        Qualification.objects.create(
            person=person,
            insurer=insurer,
            number="1",
            branch="00",
            personal_family="1",
            acquired_on=datetime.date(2020, 4, 1),
            contribution_ratio="030",
        )
        reader_card = issue_virtual_card(person, "4826", cards_dir=scratch / "reader", pki=pki)
        phone_card = issue_virtual_card(person, "4826", cards_dir=scratch / "phone", pki=pki)
        key = json.loads(reader_card.path.read_text())
        import base64

        from cryptography.hazmat.primitives import serialization

        card_key = (
            serialization.load_pem_private_key(key["auth_key_pem"].encode(), password=None),
            base64.b64decode(key["auth_cert"]),
        )
        jwks = JsonServer({"/jwks.json": lambda handler, body: (200, client_jwks())})
        holder = {"name": person.name, "birthdate": "1950-01-01", "gender": "female", "address": address}
        provider = start_provider(
            phone_card.path,
            holder,
            jwks.url + "/jwks.json",
            scratch,
            pki,
            redirect_uri=settings.AUTH_APP_REDIRECT_URI,
        )
        settings.AUTH_APP_ISSUER = provider.issuer
        timings = {
            "reader: answer (verify + register)": [],
            "app: callback (code exchange + ID token + userinfo + person)": [],
            "app: back on the page (register)": [],
            "app: total server": [],
            "reader: challenge": [],
            "app: start (challenge + authorization URL)": [],
        }
        try:
            for _round in range(options.rounds):
                client = Client()
                walk_to_card(client, entry)
                began = time.perf_counter()
                issued = post_json(client, url("challenge", entry, "home"), {}).json()
                timings["reader: challenge"].append(time.perf_counter() - began)
                answer = {
                    "challenge": issued["challenge"],
                    **card_answer(*card_key, issued["challenge_message"]),
                }
                began = time.perf_counter()
                assert post_json(client, url("answer", entry, "home"), answer).status_code == 200
                timings["reader: answer (verify + register)"].append(time.perf_counter() - began)

                client = Client()
                walk_to_card(client, entry)
                began = time.perf_counter()
                started = client.post(url("app_start", entry, "home"))
                timings["app: start (challenge + authorization URL)"].append(time.perf_counter() - began)
                back = PhoneApp(started["Location"]).enter_pin("4826")  # the patient's part: not timed
                began = time.perf_counter()
                done = client.get(callback_path(back.headers["Location"]))
                middle = time.perf_counter()
                registered = client.get(done["Location"])
                ended = time.perf_counter()
                assert registered.status_code == 302, registered.content[:500]
                timings["app: callback (code exchange + ID token + userinfo + person)"].append(middle - began)
                timings["app: back on the page (register)"].append(ended - middle)
                timings["app: total server"].append(
                    ended - began + timings["app: start (challenge + authorization URL)"][-1]
                )
        finally:
            provider.stop()
            jwks.close()
        by = {kind: Consent.objects.filter(authenticator=kind).count() for kind in ("reader", "app")}
        print(f"consents registered: {by}")
        for name, values in timings.items():
            print(f"{name}: {percentiles(values)}")


if __name__ == "__main__":
    main()
