# Live console events: time from a consent being registered to the event arriving at each of N
# open console sockets, on a real ASGI server process (daphne) over loopback.
#   .venv/bin/python bench/console_events.py                         # N = 1,10,100,1000; memory and Redis layers
#   .venv/bin/python bench/console_events.py --sockets 1,100 --rounds 20 --layers memory
#   .venv/bin/python bench/console_events.py --redis-url redis://127.0.0.1:6379/13
# The bench makes a scratch state directory (SQLite file, test PKI, one virtual card), one
# institution, one staff account with a confirmed TOTP device and N signed-in, OTP-verified
# sessions (written straight into the session store: signing in N times through the pages would
# spend N TOTP codes). It starts daphne on this module's `application` (the project's ASGI
# application plus POST /bench/register, which verifies a card proof and registers the consent in
# the server process, so even the in-memory layer publishes to the server's own sockets), opens N
# WebSocket clients (websockets library, Cookie + Origin headers, 50 connecting at a time), then
# per round: issues a consent challenge, signs it with the virtual card (APDUs), posts the proof,
# and records for every socket the arrival time minus the consent's registration time (given_at,
# the "at" of the event; same machine clock). Prints p50/p95/max over all sockets and rounds.
# Bounded: at most --sockets max connections, --rounds rounds, 60 s waiting per round.
"""Benchmark: consent event fan-out to N console WebSockets (in-memory and Redis channel layers)."""

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")
PIN = "4826"
PATH = "/ws/console/events/"


# --- the server side: the project's application plus one bench endpoint -----------------------------
def _server_application():
    from channels.db import database_sync_to_async

    from homeconsent.asgi import application as project

    @database_sync_to_async
    def register(body):
        from homeconsent.consent.challenges import verify_card_authentication
        from homeconsent.consent.services import do_register_consent

        proof = json.loads(body)
        verified = verify_card_authentication(
            proof["nonce"],
            base64.b64decode(proof["certificate"]),
            base64.b64decode(proof["signature"]),
            "consent",
        )
        consent = do_register_consent(verified, kind="home_visit", items=["medication"])
        return {"consent_id": consent.pk, "given_at": consent.given_at.isoformat()}

    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/bench/register" and scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            answer = json.dumps(await register(body)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return
        await project(scope, receive, send)

    return application


if os.environ.get("HOMECONSENT_BENCH_SERVER") == "1":
    application = _server_application()


# --- the driver ----------------------------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(var_dir: Path, sessions: int, institutions: int = 1):
    """Scratch state: database, K institutions with one staff account each, a card, N verified
    sessions spread over the institutions in turn. Returns (institutions, card path, [(institution
    index, session key)])."""
    import datetime
    from importlib import import_module

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.core.management import call_command
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from homeconsent.accounts import services as accounts
    from homeconsent.jpki.pki import TestPKI, issue_virtual_card
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Institution, Insurer, InsurerKind, Person, Qualification

    call_command("migrate", interactive=False, verbosity=0)
    TestPKI(settings.JPKI_PKI_DIR).init()
    places = [
        Institution.objects.create(code=with_check_digit(f"136{100000 + i:06d}"), name=f"bench {i}")
        for i in range(institutions)
    ]
    insurer = Insurer.objects.create(
        number="01130012", name="bench", kind=InsurerKind.KYOKAI, prefecture="13"
    )
    person = Person.objects.create(
        name="試験 花子", name_kana="シケン ハナコ", sex="2", birth_date=datetime.date(1948, 4, 2)
    )
    Qualification.objects.create(
        person=person,
        insurer=insurer,
        symbol="1",
        number="1",
        branch="00",
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="010",
        personal_family="1",
    )
    card_path = issue_virtual_card(person, PIN).path
    staff = []
    for i, place in enumerate(places):
        membership, _ = accounts.do_create_staff(place, f"bench-admin-{i}", "institution_admin", by="bench")
        user = membership.user
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        membership.refresh_from_db()
        staff.append((membership, user, device))
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for n in range(sessions):
        membership, user, device = staff[n % len(staff)]
        s = store()
        s[SESSION_KEY] = str(user.pk)
        s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        s[HASH_SESSION_KEY] = user.get_session_auth_hash()
        s[DEVICE_ID_SESSION_KEY] = device.persistent_id
        # Seen far ahead so no session goes idle during the run (the bench measures fan-out only).
        s[accounts.SESSION_KEY] = {
            "membership": membership.pk,
            "generation": membership.session_generation,
            "seen": (timezone.now() + datetime.timedelta(hours=2)).isoformat(),
        }
        s.create()
        keys.append((n % len(staff), s.session_key))
    return places, card_path, keys


def start_server(env, port, log):
    process = subprocess.Popen(
        # The handshake waits for the session lookup; daphne's 5 s default drops sockets on a loaded machine.
        [
            sys.executable,
            "-m",
            "homeconsent.serve",  # daphne with the redacted access log, as the demo runs it
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--websocket_connect_timeout",
            "60",
            "bench.console_events:application",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("daphne did not start") from None
            time.sleep(0.2)


async def measure(ports, session_keys, n, rounds, institutions, card_path, cookie_name):
    """Open n sockets (spread over the servers in turn), then per round register one consent at the
    next institution through the next server; the latencies are those of that institution's sockets."""
    import urllib.request

    import websockets
    from asgiref.sync import sync_to_async

    from homeconsent.consent.services import issue_consent_challenge
    from homeconsent.jpki.card import VirtualJPKICard
    from tests.cards import card_answer

    sockets: dict[int, list] = {}
    started = time.perf_counter()
    gate = asyncio.Semaphore(50)

    async def open_one(i, place, key):
        port = ports[i % len(ports)]
        async with gate:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}{PATH}",
                origin=f"http://127.0.0.1:{port}",
                additional_headers={"Cookie": f"{cookie_name}={key}"},
                open_timeout=60,
                max_queue=None,
                ping_interval=None,
            )
            sockets.setdefault(place, []).append(ws)

    await asyncio.gather(*(open_one(i, place, key) for i, (place, key) in enumerate(session_keys[:n])))
    connect_seconds = time.perf_counter() - started
    card = VirtualJPKICard.load(card_path)
    latencies = []

    def register_once(institution, port):
        challenge = issue_consent_challenge(institution, kind="home_visit", items=["medication"])
        certificate, signature = card_answer(card, challenge.digest_info(), PIN)
        body = json.dumps(
            {
                "nonce": challenge.nonce,
                "certificate": base64.b64encode(certificate).decode(),
                "signature": base64.b64encode(signature).decode(),
            }
        ).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/bench/register", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    async def arrival(ws, consent_id):
        while True:
            message = json.loads(await ws.recv())
            if message.get("consent_id") == consent_id and message.get("event") == "registered":
                return time.time(), message["at"]

    from datetime import datetime

    places = sorted(sockets)
    for r in range(rounds):
        place = places[r % len(places)]
        # Sign and post in a thread; the sockets' reads start at once so nothing waits in buffers.
        post = asyncio.ensure_future(
            sync_to_async(register_once, thread_sensitive=False)(institutions[place], ports[r % len(ports)])
        )
        done = await post
        arrivals = await asyncio.wait_for(
            asyncio.gather(*(arrival(ws, done["consent_id"]) for ws in sockets[place])), 60
        )
        for arrived, at in arrivals:
            latencies.append((arrived - datetime.fromisoformat(at).timestamp()) * 1000)
    for group in sockets.values():
        for ws in group:
            await ws.close()
    return connect_seconds, latencies


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", default="1,10,100,1000", help="comma-separated N (at most 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="consents registered per N")
    parser.add_argument("--layers", default="memory,redis")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--institutions", type=int, default=1, help="sockets spread over this many institutions"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes (sockets and registrations spread over them; needs the Redis layer "
        "for events to cross processes)",
    )
    options = parser.parse_args()
    sizes = [min(1000, int(n)) for n in options.sockets.split(",")]

    var_dir = Path(tempfile.mkdtemp(prefix="homeconsent-bench-console-"))
    os.environ["HOMECONSENT_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    institutions, card_path, keys = prepare(var_dir, max(sizes), options.institutions)
    from django.conf import settings

    print(
        f"state in {var_dir}; {max(sizes)} sessions over {len(institutions)} institutions; "
        f"{options.processes} server processes; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}"
    )
    print(
        "| layer | sockets | institutions | processes | connect all (s) | events | p50 (ms) | p95 (ms) | max (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for layer in options.layers.split(","):
        env = {
            **os.environ,
            "HOMECONSENT_BENCH_SERVER": "1",
            "HOMECONSENT_WEBHOOK_INLINE": "off",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "PYTHONPATH": str(ROOT),
        }
        if layer == "redis":
            env["REDIS_URL"] = options.redis_url
        if layer == "memory" and options.processes > 1:
            print("| memory | (skipped: events do not cross processes on the in-memory layer) |")
            continue
        for n in sizes:
            ports, servers = [], []
            try:
                for i in range(options.processes):
                    ports.append(_free_port())
                    log = (var_dir / f"daphne-{layer}-{n}-{i}.log").open("w")
                    servers.append(start_server(env, ports[-1], log))
                connect_seconds, latencies = asyncio.run(
                    measure(
                        ports, keys, n, options.rounds, institutions, card_path, settings.SESSION_COOKIE_NAME
                    )
                )
            finally:
                for server in servers:
                    server.terminate()
                    server.wait(timeout=20)
            print(
                f"| {layer} | {n} | {min(n, len(institutions))} | {options.processes} | {connect_seconds:.1f} | "
                f"{len(latencies)} | {percentile(latencies, 50):.1f} | {percentile(latencies, 95):.1f} | "
                f"{max(latencies):.1f} | load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
