"""python manage.py demo: the whole service on the embedded defaults, ready to try.

Migrates, seeds a synthetic registry and the well-known demo persons (once), gives demo persons
virtual My Number cards from the test PKI, puts one card on a virtual reader (nfcpy udp), starts
the reader bridge and the ASGI server, and prints the URLs and demo PINs. Type a card's number and
Enter to place another card on the reader (or start with --card N); Ctrl-C stops everything.
"""

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from homeconsent.accounts.models import StaffMembership, StaffRole
from homeconsent.accounts.services import do_create_staff
from homeconsent.admin_site import create_operator_device
from homeconsent.consent.entry import entry_url_for
from homeconsent.jpki.bridge import ReaderBridge
from homeconsent.jpki.card import CardFileError, VirtualJPKICard
from homeconsent.jpki.pki import TestPKI, issue_virtual_card
from homeconsent.jpki.udp_target import UdpCardTarget
from homeconsent.jpki.verification import fingerprint_sha256
from homeconsent.registry.models import CardCertificate, Institution, Person
from homeconsent.registry.seeding import seed_demo_persons, seed_registry

# Demo cards: (demo person slug, PIN). Fixed PINs, printed by the command: these are test cards.
DEMO_CARDS = [
    ("suzuki-ichiro", "1234"),
    ("yamada-taro", "2345"),
    ("sato-sachiko", "3456"),
    ("tanaka-setsuko", "4567"),
    ("watanabe-minoru", "5678"),
]
# The clinic system's commands printed below (patients, then eligibility and medication of this person)
# and the scopes the reference client asks for them: consent.read, qualification.read, medication.read.
DEMO_API_PATIENT = "suzuki-ichiro"


@dataclass
class DemoCard:
    number: int
    name: str
    situation: str
    pin: str
    path: Path


def _from_checkout(path: Path) -> str:
    """A path as the README's commands write it (.venv/bin/python, var/…): relative to the checkout
    when inside it, so the printed commands can be pasted from the checkout on any machine."""
    try:
        return str(path.absolute().relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


class Command(BaseCommand):
    help = "Run HomeConsent with demo data, virtual cards and the reader bridge (embedded defaults)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--bridge-port", type=int, default=settings.READER_BRIDGE_PORT)
        parser.add_argument("--card-port", type=int, default=54321, help="udp port of the virtual reader")
        parser.add_argument("--persons", type=int, default=300, help="synthetic persons seeded on first run")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--card", type=int, default=1, help="the card on the reader at start (its number)"
        )
        parser.add_argument("--no-server", action="store_true", help="prepare data and print, then exit")
        parser.add_argument(
            "--app-port", type=int, default=47120, help="port of the stand-in authentication app"
        )
        parser.add_argument("--app-card", type=int, default=1, help="the card the stand-in app's phone holds")

    def handle(self, *args, **options):
        if self._unapplied_migrations():
            call_command("migrate", interactive=False, verbosity=0)
        if not Person.objects.exists():
            summary = seed_registry(options["persons"], options["seed"])
            self.stdout.write(f"seeded {summary.persons} synthetic persons in {summary.seconds:.1f} s")
        demo_persons = {d["slug"]: d for d in seed_demo_persons()}
        cards = self._demo_cards(demo_persons)
        operator_lines = self._operator_account()
        site = f"http://{'localhost' if options['host'] in ('127.0.0.1', '0.0.0.0') else options['host']}:{options['port']}"
        self._print(site, cards, demo_persons, operator_lines, options)
        if options["no_server"]:
            return
        self._run(site, cards, options)

    @staticmethod
    def _unapplied_migrations() -> bool:
        executor = MigrationExecutor(connection)
        return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))

    # --- data -------------------------------------------------------------------------------------
    def _demo_cards(self, demo_persons) -> list[DemoCard]:
        TestPKI(settings.JPKI_PKI_DIR).init()
        settings.JPKI_CARDS_DIR.mkdir(parents=True, exist_ok=True)
        index_path = settings.JPKI_CARDS_DIR / "demo-cards.json"
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        cards = []
        for number, (slug, pin) in enumerate(DEMO_CARDS, start=1):
            person = demo_persons[slug]
            path = Path(index.get(slug, ""))
            # A card file kept in var/ over a fresh database is issued again: the registry (J-LIS's
            # part) must know the card's certificate for its holder, or nothing would accept it.
            if not index.get(slug) or not path.exists() or not self._card_known(path, person["person_id"]):
                path = issue_virtual_card(Person.objects.get(pk=person["person_id"]), pin).path
                index[slug] = str(path)
            cards.append(DemoCard(number, person["name"], person["situation"], pin, path))
        index_path.write_text(json.dumps(index, ensure_ascii=False, indent=1))
        return cards

    @staticmethod
    def _card_known(path, person_id) -> bool:
        try:
            der = VirtualJPKICard.load(path).auth_cert_der
        except CardFileError:
            return False
        fingerprint = fingerprint_sha256(x509.load_der_x509_certificate(der))
        return CardCertificate.objects.filter(
            person_id=person_id,
            fingerprint_sha256=fingerprint,
            status="active",
            registered_for_insurance_use=True,
        ).exists()

    def _operator_account(self) -> list[str]:
        """The operator account of the admin pages and its TOTP device, created once; their password
        and TOTP secret are printed once (an account from before TOTP gets its device now)."""
        User = get_user_model()
        operator = User.objects.filter(username="operator").first()
        password = None
        if operator is None:
            password = secrets.token_urlsafe(12)
            operator = User.objects.create_superuser("operator", "operator@homeconsent.invalid", password)
        elif TOTPDevice.objects.filter(user=operator, confirmed=True).exists():
            return []
        device = create_operator_device(operator)
        secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
        return [
            *([f"    password:    {password} (shown once)"] if password else []),
            f"    TOTP:        {device.config_url} (shown once)",
            f"                 secret {secret}: add it to an authenticator app; sign in with its 6 digits",
        ]

    def _print(self, site, cards, demo_persons, operator_lines, options):
        w = self.stdout.write
        w("")
        w("HomeConsent demo (embedded defaults: SQLite in var/, in-memory channel layer)")
        w(f"  site:          {site}/")
        w(
            f"  admin:         {site}/admin/  user operator, password + TOTP code"
            + ("" if operator_lines else " (password and TOTP secret shown on first run)")
        )
        for line in operator_lines:
            w(line)
        w(f"  portal:        {site}/portal/  (patients sign in with a card below)")
        w(f"  clinic API:    {site}/api/v1/docs  (schema {site}/api/v1/schema)")
        for line in self._entry_lines(site):
            w(line)
        for line in self._api_client_lines(site, demo_persons):
            w(line)
        w(
            f"  reader bridge: ws://{settings.READER_BRIDGE_HOST}:{options['bridge_port']} "
            f"(virtual reader udp:127.0.0.1:{options['card_port']})"
        )
        w("")
        if sys.stdin and sys.stdin.isatty():
            w("Virtual My Number cards (type the number and Enter to place that card on the reader):")
        else:  # run in the background: no keyboard to switch with
            w("Virtual My Number cards (to place another card on the reader, start again with --card N):")
        for card in cards:
            w(f"  [{card.number}] {card.name}  PIN {card.pin}  — {card.situation}")
        w("")
        w("Search keys of the demo persons (insurer number / 記号 / 番号 / 枝番 / birth date):")
        for d in demo_persons.values():
            w(
                f"  {d['name']}: {d['insurer_number']} / {d['symbol']} / {d['number']} / {d['branch']} / {d['birth_date']}"
            )
        w("")

    def _entry_lines(self, site):
        lines = []
        for institution in Institution.objects.filter(code__in=self._demo_institution_codes()):
            lines.append(
                f"  entry:         {site}{entry_url_for(institution)}  ({institution.code} {institution.name})"
            )
            membership = StaffMembership.objects.filter(institution=institution).first()
            if membership is None:
                membership, token = do_create_staff(
                    institution, f"admin{institution.code}", StaffRole.INSTITUTION_ADMIN, by="operator:demo"
                )
                link = site + reverse("console:enrol", args=[token])
                lines.append(
                    f"    console:     {link}  (enrol {membership.user.username}: password + TOTP app; one use)"
                )
            else:
                lines.append(
                    f"    console:     {site}{reverse('console:signin')}  ({membership.user.username})"
                )
        return lines

    def _api_client_lines(self, site, demo_persons):
        """What the institution side adds to the demo (clinicapi: a clinic system's commands), asked of
        every installed app that offers `demo_lines`, so the site core imports none of them."""
        clinic = Institution.objects.get(code=self._demo_institution_codes()[0])
        patient = demo_persons[DEMO_API_PATIENT]
        card = [slug for slug, _ in DEMO_CARDS].index(DEMO_API_PATIENT) + 1
        lines = []
        for config in apps.get_app_configs():
            if hasattr(config, "demo_lines"):
                lines += config.demo_lines(
                    site,
                    clinic,
                    patient,
                    card,
                    python=_from_checkout(Path(sys.prefix) / "bin" / "python"),
                    show_path=_from_checkout,
                )
        return lines

    @staticmethod
    def _demo_institution_codes():
        # One of each facility type in Tokyo: the first seeded ones.
        codes = []
        for facility_type in ("1", "6", "4"):
            inst = (
                Institution.objects.filter(prefecture="13", facility_type=facility_type)
                .order_by("code")
                .first()
            )
            if inst:
                codes.append(inst.code)
        return codes

    # --- processes --------------------------------------------------------------------------------
    def _run(self, site, cards, options):
        origins = [site, f"http://127.0.0.1:{options['port']}", f"http://localhost:{options['port']}"]
        first = next((c for c in cards if c.number == options["card"]), cards[0])
        target = UdpCardTarget(VirtualJPKICard.load(first.path), "127.0.0.1", options["card_port"]).start()
        bridge = ReaderBridge(
            f"udp:127.0.0.1:{options['card_port']}",
            host=settings.READER_BRIDGE_HOST,
            port=options["bridge_port"],
            origins=origins,
        ).start()
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "homeconsent.settings"),
            # The pages tell the browser where the bridge listens.
            HOMECONSENT_BRIDGE_PORT=str(options["bridge_port"]),
        )
        app = self._start_app_provider(site, cards, options)
        env.update(app["env"])
        server = subprocess.Popen(
            # daphne, its access log without enrolment tokens or session ids (homeconsent.serve)
            [
                sys.executable,
                "-m",
                "homeconsent.serve",
                "-b",
                options["host"],
                "-p",
                str(options["port"]),
                "homeconsent.asgi:application",
            ],
            env=env,
        )
        self.stdout.write(f"on the reader: [{first.number}] {first.name}. Open {site}/ — Ctrl-C stops.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        state = {"target": target}
        # The test CRL is good for days: re-sign it while the demo runs (init() does so once half stale).
        threading.Thread(target=self._refresh_crl, args=(stop,), daemon=True).start()
        if sys.stdin and sys.stdin.isatty():
            threading.Thread(
                target=self._switch_cards, args=(cards, state, options, stop), daemon=True
            ).start()
        try:
            while not stop.wait(0.5):
                if server.poll() is not None:
                    self.stderr.write("the web server stopped")
                    break
        except KeyboardInterrupt:
            pass
        finally:
            server.terminate()
            app["process"].terminate()
            bridge.stop()
            state["target"].stop()
            server.wait(timeout=10)

    def _start_app_provider(self, site, cards, options):
        """The stand-in authentication app (its own process) holding one demo card, and the settings
        that make this site its client. Prints its URL and the card it holds."""
        card = next((c for c in cards if c.number == options["app_card"]), cards[0])
        holder_card = VirtualJPKICard.load(card.path)
        person = Person.objects.get(
            card_certificates__fingerprint_sha256=fingerprint_sha256(
                x509.load_der_x509_certificate(holder_card.auth_cert_der)
            )
        )
        holder = {
            "name": person.name,
            "birthdate": person.birth_date.isoformat(),
            "gender": {"1": "male", "2": "female"}.get(person.sex, ""),
            "address": person.address,
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "authenticator_provider",
                "--port",
                str(options["app_port"]),
                "--client",
                settings.AUTH_APP_CLIENT_ID,
                "--redirect-uri",
                f"{site}/consent/app/callback",
                "--client-jwks-uri",
                f"{site}/consent/app/jwks.json",
                "--card",
                str(card.path),
                "--holder",
                json.dumps(holder, ensure_ascii=False),
            ],
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        issuer = process.stdout.readline().removeprefix("issuer: ").strip()
        if not issuer:
            self.stderr.write("the stand-in authentication app did not start: the phone route is off")
            return {"process": process, "env": {}}
        self.stdout.write(
            f"  auth app:      {issuer}  (stand-in; its phone holds card [{card.number}] {card.name}, PIN {card.pin})"
        )
        return {
            "process": process,
            "env": {
                "HOMECONSENT_AUTH_APP_ISSUER": issuer,
                "HOMECONSENT_AUTH_APP_REDIRECT_URI": f"{site}/consent/app/callback",
                "HOMECONSENT_AUTH_APP_CLIENT_JWKS_URI": f"{site}/consent/app/jwks.json",
                # The demo runs on plain http on this machine; authlib refuses that unless told.
                "AUTHLIB_INSECURE_TRANSPORT": "1",
            },
        }

    @staticmethod
    def _refresh_crl(stop, every_seconds=3600):
        while not stop.wait(every_seconds):
            TestPKI(settings.JPKI_PKI_DIR).init()

    def _switch_cards(self, cards, state, options, stop):
        by_number = {str(c.number): c for c in cards}
        for line in sys.stdin:
            card = by_number.get(line.strip())
            if not card:
                self.stdout.write(f"type one of {', '.join(by_number)}")
                continue
            state["target"].stop()
            state["target"] = UdpCardTarget(
                VirtualJPKICard.load(card.path), "127.0.0.1", options["card_port"]
            ).start()
            self.stdout.write(f"on the reader: [{card.number}] {card.name} (PIN {card.pin})")
            if stop.is_set():
                return
