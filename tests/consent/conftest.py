"""Persons with real virtual My Number cards, and the card answering a challenge in raw APDUs.

RSA key generation is the slow part, so card files are made once per run (a pool, created on
demand) and each test registers a copy of one for its own person.
"""

import datetime
import http.server
import itertools
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from django.test import Client

from homeconsent.consent.challenges import verify_card_authentication
from homeconsent.consent.models import InstitutionEntry
from homeconsent.jpki.card import VirtualJPKICard, issue_card_file
from homeconsent.jpki.pki import TestPKI, do_register_card_certificate
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import (
    Institution,
    Insurer,
    InsurerKind,
    Person,
    Qualification,
)
from tests.cards import card_answer

PIN = "4826"
BIRTH_DATE = datetime.date(1948, 4, 2)
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def consent_pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("consent-pki")).init()


class CardPool:
    """Card files of the test PKI, made on first use and reused by later tests (copied each time)."""

    def __init__(self, pki, directory: Path):
        self.pki, self.directory, self.files = pki, directory, []

    def template(self, index: int) -> Path:
        while len(self.files) <= index:
            path = self.directory / f"card-{len(self.files)}.json"
            self.files.append(issue_card_file(self.pki, path, pin=PIN, birth_date=BIRTH_DATE))
        return self.files[index]


@pytest.fixture(scope="session")
def card_pool(consent_pki, tmp_path_factory):
    return CardPool(consent_pki, tmp_path_factory.mktemp("consent-cards"))


@pytest.fixture(autouse=True)
def consent_settings(settings, consent_pki, tmp_path):
    settings.JPKI_TRUST_ROOTS = [consent_pki.root_path]
    settings.JPKI_CRLS = [consent_pki.crl_path]
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_CHAINS = 4
    settings.CONSENT_WEBHOOK_INLINE = "sync"
    settings.CONSENT_WEBHOOK_TIMEOUT = 2
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return settings


@dataclass
class Patient:
    person: Person
    card: VirtualJPKICard
    card_certificate: object


@pytest.fixture
def insurer(db):
    return Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )


@pytest.fixture
def institution(db):
    return Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")


@pytest.fixture
def other_institution(db):
    return Institution.objects.create(code=with_check_digit("131765432"), name="あおぞら内科")


def make_patient_in(card_pool, directory: Path, insurer, index: int, *, qualified=True, lost_on=None):
    """A person (with a qualification from 2020, unless not qualified) holding a copy of pool card `index`."""
    number = next(_numbers)
    person = Person.objects.create(
        name=f"試験 花子{number}", name_kana=f"シケン ハナコ{number}", sex="2", birth_date=BIRTH_DATE
    )
    if qualified:
        Qualification.objects.create(
            person=person,
            insurer=insurer,
            symbol="1234",
            number=str(1000 + number),
            branch="00",
            personal_family="1",
            acquired_on=datetime.date(2020, 4, 1),
            lost_on=lost_on,
            contribution_ratio="020",
            reason_of_loss="1" if lost_on else "",
        )
    path = directory / f"patient-{number}.json"
    shutil.copy2(card_pool.template(index), path)
    card = VirtualJPKICard.load(path)
    row = do_register_card_certificate(person, x509.load_der_x509_certificate(card.auth_cert_der))
    return Patient(person, card, row)


@pytest.fixture
def make_patient(card_pool, insurer, tmp_path):
    """make_patient(card=0, qualified=True, lost_on=None): a person with a registered virtual card."""

    def make(card=0, **options):
        return make_patient_in(card_pool, tmp_path, insurer, card, **options)

    return make


@pytest.fixture
def patient(make_patient):
    return make_patient()


def prove(patient: Patient, challenge):
    """The card signs the challenge's DigestInfo and the server verifies it: a VerifiedCardAuth."""
    certificate, signature = card_answer(patient.card, challenge.digest_info(), PIN)
    return verify_card_authentication(challenge.nonce, certificate, signature, "consent")


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that records what is POSTed to it and answers `status`."""

    def __init__(self):
        self.requests, self.status = [], 204
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/homeconsent"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


# A consent flow's form posts and card-step requests, after /consent/e/<token>/.
_FLOW_FORM = re.compile(r"^/consent/e/[^/]+/(home|telehealth)/((items|limit|confirm|date)/)?$")
_FLOW_CARD = re.compile(r"^/consent/e/[^/]+/(home|telehealth)/(challenge|answer)$")


class PageClient(Client):
    """Django's test client posting as the consent pages do: each form of a flow carries the draft it
    was shown for (its hidden "draft" field) and the card step names it (?draft=). The draft is the
    one this browser's session points at; a test that posts another one says so with draft=."""

    def _draft(self, path):
        token, flow = path.split("/")[3], path.split("/")[4]
        entry = InstitutionEntry.objects.filter(token=token).first()
        return (self.session.get(f"consent.{entry.pk}.{flow}.draft") or {}).get("draft", "") if entry else ""

    def post(self, path, data=None, content_type=None, **extra):
        if (
            _FLOW_FORM.match(path)
            and (data is None or isinstance(data, dict))
            and "draft" not in (data or {})
        ):
            data = {**(data or {}), "draft": self._draft(path)}
        elif _FLOW_CARD.match(path):
            path = f"{path}?draft={self._draft(path)}"
        kwargs = {"content_type": content_type} if content_type else {}
        return super().post(path, data, **kwargs, **extra)


@pytest.fixture
def client():
    return PageClient()
