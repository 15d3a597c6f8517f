# R1 for real: concurrent card consents over HTTP against bin/serve, one worker killed mid-way.
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/consent_kill.py
#   … bench/consent_kill.py --consents 200 --concurrency 50 --kill-after 60 --workers 2
# On a scratch PostgreSQL database (bench_consent_kill_<pid>, dropped afterwards) and, when Redis
# answers, the Redis channel layer: migrate, one institution, N persons each with a qualification
# and a registered virtual card (test PKI made now). Starts bin/serve (granian, --workers, failed
# workers respawned), then N patients walk the home-visit consent pages at once over HTTP (about,
# items, limit, confirm, challenge, answer signed with the card's key), --concurrency at a time.
# When --kill-after answers have been acknowledged, one granian worker gets SIGKILL. Afterwards:
# every consent the client saw acknowledged is stored exactly once, with its access-log row; no
# consent without its row and no registration row without its consent (nothing half-written); and
# verify_access_log accepts the whole log. Prints counts and one JSON line last.
"""Benchmark: concurrent card consents over HTTP with a worker killed (SIGKILL) in the middle."""

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from clinic_api import free_port, scratch_environment  # noqa: E402


def prepare(count: int, tmp: Path):
    import datetime

    import django

    django.setup()
    from cryptography.hazmat.primitives import serialization
    from django.core.management import call_command

    from homeconsent.consent.entry import entry_for
    from homeconsent.jpki.pki import TestPKI, issue_virtual_card
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, Insurer, InsurerKind, Person, Qualification

    call_command("migrate", verbosity=0)
    pki = TestPKI(tmp / "pki").init()
    institution = Institution.objects.create(
        code=with_check_digit("136000777"), name="ベンチ訪問看護", facility_type="6", prefecture="13"
    )
    insurer = Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )
    patients = []
    for i in range(count):
        person = Person.objects.create(
            name=f"試験 {i}", name_kana="シケン", sex="2", birth_date=datetime.date(1950, 1, 1)
        )
        Qualification.objects.create(
            person=person,
            insurer=insurer,
            symbol="77",
            number=str(10000 + i),
            branch="00",
            acquired_on=datetime.date(2020, 4, 1),
            contribution_ratio="030",
            personal_family="1",
        )
        issued = issue_virtual_card(person, "4826", cards_dir=tmp / "cards", pki=pki)
        document = json.loads(issued.path.read_text())
        key = serialization.load_pem_private_key(document["auth_key_pem"].encode(), password=None)
        patients.append((person.pk, key, base64.b64decode(document["auth_cert"])))
    return institution, entry_for(institution), pki, patients


def consent_over_http(base: str, token: str, key, certificate: bytes) -> str:
    """One patient's home-visit consent through the pages; 'acknowledged' when the answer said done."""
    import requests
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    http = requests.Session()

    def page(step):
        return f"{base}/consent/e/{token}/home/{step}"

    draft_key = ""
    steps = (
        ("", {"flow": "home"}),
        ("items/", {"medication": "yes"}),
        ("limit/", {"share_limit": "no"}),
        ("confirm/", {"until": "care"}),
    )
    for step, data in steps:  # 始める, items, 限度額, then 同意する freezes the draft the card signs
        # As a browser: the page, then its form with the draft it names (a hidden field).
        shown = http.get(page(step), timeout=60)
        if shown.status_code != 200:
            return f"page {step or 'about'} {shown.status_code}"
        draft = re.search(r'name="draft" value="([^"]*)"', shown.text)
        if draft:
            data = {**data, "draft": draft.group(1)}
            draft_key = draft.group(1)
        response = http.post(
            page(step),
            {**data, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            headers={"Referer": page(step)},
            allow_redirects=False,
            timeout=60,
        )
        if response.status_code != 302:
            return f"refused {step or 'about'} {response.status_code}"
    headers = {"X-CSRFToken": http.cookies["csrftoken"], "Referer": page("card/")}
    # The card step names its draft (?draft=), as the page's script does.
    issued = http.post(page("challenge"), json={}, headers=headers, params={"draft": draft_key}, timeout=60)
    if issued.status_code != 200:
        return f"challenge {issued.status_code}"
    issued = issued.json()
    # The card signs the DigestInfo of SHA-256 over the challenge message (reader bridge protocol 2).
    signature = key.sign(base64.b64decode(issued["challenge_message"]), padding.PKCS1v15(), hashes.SHA256())
    answer = http.post(
        page("answer"),
        json={
            "challenge": issued["challenge"],
            "certificate": base64.b64encode(certificate).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
        headers=headers,
        params={"draft": draft_key},
        timeout=60,
    )
    if answer.status_code == 200 and answer.json().get("next", "").endswith("/done/"):
        return "acknowledged"
    return f"answer {answer.status_code}"


def workers_of(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--consents", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50, help="patients walking the pages at once")
    parser.add_argument("--kill-after", type=int, default=60, help="acknowledged consents before the SIGKILL")
    parser.add_argument("--workers", type=int, default=2, help="bin/serve workers")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    options = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        parser.error("needs DATABASE_URL=postgres://…")

    tmp = Path(tempfile.mkdtemp(prefix="bench-consent-kill-"))
    env, drop_database = scratch_environment(tmp)
    env["DJANGO_SETTINGS_MODULE"] = "homeconsent.settings"
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(48)
    # Every patient comes from this one address through one entry URL: their limits would stop them.
    for limit in (
        "CHALLENGE_RATE_PER_IP",
        "CHALLENGE_RATE_PER_ENTRY",
        "START_RATE_PER_IP",
        "START_RATE_PER_ENTRY",
    ):
        env[f"HOMECONSENT_{limit}"] = "100000"  # the per-address and per-entry limits of the pages
    try:
        import redis

        redis.Redis.from_url(options.redis_url, socket_timeout=2).ping()
        env["REDIS_URL"] = options.redis_url
    except Exception:  # noqa: BLE001 - no Redis: the in-memory layer
        pass
    os.environ.update(env)
    server = None
    try:
        print(f"preparing {options.consents} patients with cards ...", flush=True)
        began = time.perf_counter()
        institution, entry, pki, patients = prepare(options.consents, tmp)
        print(f"  ready in {time.perf_counter() - began:.1f} s")
        from django.db import connections

        connections.close_all()
        port = free_port()
        server_env = {
            **os.environ,
            "HOMECONSENT_JPKI_ROOTS": str(pki.root_path),
            "HOMECONSENT_JPKI_CRLS": str(pki.crl_path),
        }
        server = subprocess.Popen(
            [str(ROOT / "bin" / "serve"), "--port", str(port), "--workers", str(options.workers)],
            cwd=ROOT,
            env=server_env,
            start_new_session=True,
        )
        import requests

        deadline = time.monotonic() + 90
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("bin/serve did not start") from None
                time.sleep(0.3)
        base = f"http://127.0.0.1:{port}"
        outcomes: dict[int, str] = {}
        acknowledged = [0]
        killed = {}
        lock = threading.Lock()

        def one(patient):
            person_id, key, certificate = patient
            try:
                outcome = consent_over_http(base, entry.token, key, certificate)
            except Exception as exc:  # noqa: BLE001 - a dropped connection is an outcome here
                outcome = f"error {type(exc).__name__}"
                if not isinstance(exc, OSError | requests.RequestException):
                    outcome += f": {exc}"  # not a cut connection: say what it was
            with lock:
                outcomes[person_id] = outcome
                if outcome == "acknowledged":
                    acknowledged[0] += 1
                    if acknowledged[0] == options.kill_after and not killed:
                        victims = workers_of(server.pid)
                        if victims:
                            os.kill(victims[0], signal.SIGKILL)
                            killed.update(
                                pid=victims[0], at=acknowledged[0], seconds=time.perf_counter() - began
                            )

        began = time.perf_counter()
        with ThreadPoolExecutor(options.concurrency) as pool:
            list(pool.map(one, patients))
        elapsed = time.perf_counter() - began
        print(f"{len(patients)} consents over HTTP in {elapsed:.1f} s; killed worker {killed or 'none'}")

        from django.db.models import Count

        from homeconsent.audit.models import AccessEvent
        from homeconsent.audit.verification import verify_log
        from homeconsent.consent.models import Consent

        consents = Consent.objects.filter(institution=institution)
        per_person = dict(consents.values_list("person_id").annotate(n=Count("id")))
        logged = set(
            AccessEvent.objects.filter(
                basis="consent", actor_type="patient", institution_code=institution.code
            ).values_list("consent_id", flat=True)
        )
        consent_ids = {str(pk) for pk in consents.values_list("pk", flat=True)}
        acked = [p for p, o in outcomes.items() if o == "acknowledged"]
        lost = [p for p in acked if per_person.get(p, 0) != 1]
        duplicated = [p for p, n in per_person.items() if n > 1]
        without_row = sorted(consent_ids - logged)
        row_without_consent = sorted(logged - consent_ids)
        report = verify_log()
        tally: dict[str, int] = {}
        for outcome in outcomes.values():
            tally[outcome] = tally.get(outcome, 0) + 1
        print(f"outcomes: {tally}")
        print(
            f"stored consents {len(consent_ids)}; acknowledged but not stored once: {len(lost)}; "
            f"duplicated: {len(duplicated)}; consent without log row: {len(without_row)}; "
            f"log row without consent: {len(row_without_consent)}; chain verifies: {report.ok} "
            f"({report.total} rows)"
        )
        ok = (
            bool(acked)
            and not lost
            and not duplicated
            and not without_row
            and not row_without_consent
            and report.ok
        )
        print(
            json.dumps(
                {
                    "consents": len(patients),
                    "concurrency": options.concurrency,
                    "workers": options.workers,
                    "seconds": round(elapsed, 1),
                    "acknowledged": len(acked),
                    "stored": len(consent_ids),
                    "killed_worker_at": killed.get("at"),
                    "lost": len(lost),
                    "duplicated": len(duplicated),
                    "half_written": len(without_row) + len(row_without_consent),
                    "chain_ok": report.ok,
                    "ok": ok,
                    "outcomes": tally,
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                }
            )
        )
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        drop_database()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
