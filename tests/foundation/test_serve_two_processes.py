"""Production serving across processes: two bin/serve processes on different ports share PostgreSQL
and Redis; a consent registered through the pages of one reaches a console board (WebSocket)
connected to the other. Needs PostgreSQL (DATABASE_URL) and Redis on 127.0.0.1:6379 (skipped
without them)."""

import base64
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import time
from importlib import import_module
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from homeconsent.consent.entry import entry_for
from homeconsent.consent.models import Consent
from homeconsent.jpki.pki import TestPKI, issue_virtual_card
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, Insurer, InsurerKind, Person, Qualification

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
# A Redis database of its own: the suite's workers use 8-15 for their caches (tests/settings.py).
REDIS_DB = 6


def _redis_url():
    try:
        import redis

        client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}", socket_timeout=2)
        client.ping()
    except Exception:  # noqa: BLE001 - any failure means: no Redis here
        pytest.skip("needs Redis on 127.0.0.1:6379")
    return f"redis://127.0.0.1:6379/{REDIS_DB}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, env: dict, log) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(ROOT / "bin" / "serve"), "--port", str(port), "--workers", "1", "--threads", "4"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, "bin/serve exited"
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code < 500:
                return process
        except requests.ConnectionError:
            time.sleep(0.3)
    raise AssertionError("bin/serve did not answer within 90 s")


@pytest.fixture
def pki(tmp_path):
    return TestPKI(tmp_path / "pki").init()


@pytest.fixture
def two_servers(tmp_path, pki):
    redis_url = _redis_url()
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "homeconsent.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # both sign sessions alike, as behind one balancer
        "HOMECONSENT_VAR_DIR": str(tmp_path / "var"),
        "HOMECONSENT_JPKI_ROOTS": str(pki.root_path),
        "HOMECONSENT_JPKI_CRLS": str(pki.crl_path),
    }
    processes = []
    with open(tmp_path / "serve.log", "wb") as log:
        try:
            for _ in range(2):
                port = _free_port()
                processes.append((port, _serve(port, env, log)))
            yield [port for port, _ in processes]
        finally:
            for _, process in processes:
                os.killpg(process.pid, signal.SIGTERM)
            for _, process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def clinic_with_patient(tmp_path, pki):
    institution = Institution.objects.create(
        code=with_check_digit("136000555"),
        name="にし訪問看護ステーション",
        facility_type="6",
        prefecture="13",
    )
    insurer = Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )
    person = Person.objects.create(
        name="山田 花子", name_kana="ヤマダ ハナコ", sex="2", birth_date=datetime.date(1948, 4, 2)
    )
    Qualification.objects.create(
        person=person,
        insurer=insurer,
        symbol="1234",
        number="5678",
        branch="00",
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="010",
        personal_family="1",
    )
    issued = issue_virtual_card(person, "4826", cards_dir=tmp_path / "cards", pki=pki)
    document = json.loads(issued.path.read_text())
    key = serialization.load_pem_private_key(document["auth_key_pem"].encode(), password=None)
    return institution, person, key, base64.b64decode(document["auth_cert"])


def _board_session(institution) -> str:
    """A signed-in, OTP-verified console session of the institution's administrator."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from homeconsent.accounts import services as accounts

    membership, _ = accounts.do_create_staff(institution, "board-admin", "institution_admin", by="test")
    user = membership.user
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    membership.refresh_from_db()
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[accounts.SESSION_KEY] = {
        "membership": membership.pk,
        "generation": membership.session_generation,
        "seen": timezone.now().isoformat(),
    }
    session.create()
    return session.session_key


def _consent_through_pages(base: str, entry, key, certificate: bytes) -> dict:
    """The home-visit consent flow over HTTP with a real card signature (CSRF as a browser sends it)."""
    http = requests.Session()

    def page(name, *args):
        return base + reverse(f"consent:{name}", args=[entry.token, *args])

    def form(name, data):
        # As a browser: the page first, then its form with the draft it names (a hidden field).
        shown = http.get(page(name, "home"), timeout=30)
        assert shown.status_code == 200, (name, shown.status_code)
        draft = re.search(r'name="draft" value="([^"]*)"', shown.text)
        if draft:
            data = {**data, "draft": draft.group(1)}
            drafts.append(draft.group(1))
        response = http.post(
            page(name, "home"),
            {**data, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            headers={"Referer": page(name, "home")},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, (name, response.status_code, response.text[:300])

    def post_json(name, body):
        # The card step names its draft (?draft=), as the page's script does.
        response = http.post(
            page(name, "home"),
            json=body,
            timeout=30,
            params={"draft": drafts[-1]},
            headers={"X-CSRFToken": http.cookies["csrftoken"], "Referer": page("card", "home")},
        )
        assert response.status_code == 200, (name, response.status_code, response.text[:300])
        return response.json()

    drafts = []
    form("about", {"flow": "home"})  # 始める: a new draft
    form("items", {"medication": "yes"})
    form("limit", {"share_limit": "no"})
    form("confirm", {"until": "care"})  # 同意する freezes the draft the card signs
    issued = post_json("challenge", {})
    # The card signs the DigestInfo of SHA-256 over the challenge message (reader bridge protocol 2).
    signature = key.sign(base64.b64decode(issued["challenge_message"]), padding.PKCS1v15(), hashes.SHA256())
    return post_json(
        "answer",
        {
            "challenge": issued["challenge"],
            "certificate": base64.b64encode(certificate).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
    )


def test_a_consent_made_through_one_server_reaches_a_board_on_the_other(two_servers, clinic_with_patient):
    from websockets.sync.client import connect

    # given two server processes and a console board connected to the second one
    one, other = two_servers
    institution, person, key, certificate = clinic_with_patient
    entry = entry_for(institution)
    with connect(
        f"ws://127.0.0.1:{other}/ws/console/events/",
        origin=f"http://127.0.0.1:{other}",
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={_board_session(institution)}"},
        open_timeout=30,
    ) as board:
        # when the patient consents through the pages of the first one
        _consent_through_pages(f"http://127.0.0.1:{one}", entry, key, certificate)
        consent = Consent.objects.get(person=person, institution=institution)

        # then the board on the other process receives the registration, bounded in time
        deadline = time.monotonic() + 30
        events = []
        while time.monotonic() < deadline:
            message = json.loads(board.recv(timeout=max(0.1, deadline - time.monotonic())))
            events.append(message)
            if message.get("event") == "registered" and message.get("consent_id") == consent.pk:
                break
        else:
            raise AssertionError(f"no registered event on the other server; saw {events}")
