"""Institutions calling the data endpoints with real tokens, for patients with real consents.

Clients are registered with EC keys made at run time; tokens come from the token endpoint with an
assertion built by PyJWT. Consents are registered through consent.services with a virtual My
Number card signing the challenge (the consent tests' card pool and APDU helper).
"""

import datetime
import random
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.cache import cache
from django.utils import timezone

from clinicapi.auth import do_issue_access_token, do_register_client, do_revoke_client
from homeconsent.audit.models import AccessEvent
from homeconsent.consent import rules
from homeconsent.consent.models import Consent, ConsentEndedBy, ConsentKind, ConsentStatus
from homeconsent.consent.services import do_register_consent, issue_consent_challenge
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, Insurer, InsurerKind, Person, PublicExpenseCertificate
from homeconsent.registry.seeding import seed_registry
from tests.consent.conftest import CardPool, Patient, make_patient_in, prove

TOKEN_PATH = "/api/v1/auth/token"
ALL_SCOPES = [
    "qualification.read",
    "consent.read",
    "consent.write",
    "medication.read",
    "treatment.read",
    "checkup.read",
    "batch.write",
]
MEDICAL = ["medication", "treatment", "checkup", "limit_certificate"]


@pytest.fixture(scope="session")
def api_pki(tmp_path_factory):
    from homeconsent.jpki.pki import TestPKI

    return TestPKI(tmp_path_factory.mktemp("api-pki")).init()


@pytest.fixture(scope="session")
def api_card_pool(api_pki, tmp_path_factory):
    return CardPool(api_pki, tmp_path_factory.mktemp("api-cards"))


@pytest.fixture
def api_settings(settings, api_pki, tmp_path):
    settings.JPKI_TRUST_ROOTS = [api_pki.root_path]
    settings.JPKI_CRLS = [api_pki.crl_path]
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CONSENT_WEBHOOK_INLINE = "sync"
    settings.CLINICAPI_THROTTLE_RATES = {"client": "100000/min", "token": "100000/min"}
    cache.clear()
    yield settings
    cache.clear()


@pytest.fixture
def insurer(db):
    return Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )


@pytest.fixture
def clinic(db):
    return Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")


@pytest.fixture
def other_clinic(db):
    return Institution.objects.create(code=with_check_digit("131765432"), name="あおぞら内科")


@pytest.fixture
def make_patient(api_settings, api_card_pool, insurer, tmp_path):
    """make_patient(qualified=True, lost_on=None): a person with a qualification and a registered card
    (each patient of a test holds a different card of the pool)."""
    used = iter(range(1000))

    def make(**options) -> Patient:
        return make_patient_in(api_card_pool, tmp_path, insurer, next(used), **options)

    return make


def register_consent(
    patient: Patient,
    institution,
    kind="home_visit",
    items=("medication",),
    *,
    visit_date=None,
    now=None,
    available_until=None,
):
    """The patient's card signs the consent challenge and consent.services registers it."""
    challenge = issue_consent_challenge(
        institution,
        kind=kind,
        items=list(items),
        visit_date=visit_date,
        available_until=available_until,
        now=now,
    )
    verified = prove(patient, challenge)
    return do_register_consent(
        verified,
        kind=kind,
        items=list(items),
        visit_date=visit_date,
        available_until=available_until,
        now=now,
    )


def register_expired_telehealth(patient: Patient, institution, items=("medication",)):
    """A telehealth consent for yesterday's visit: given yesterday, ended at midnight."""
    yesterday = rules.today() - datetime.timedelta(days=1)
    given = rules.start_of_day(yesterday) + datetime.timedelta(hours=9)
    return register_consent(patient, institution, "telehealth", items, visit_date=yesterday, now=given)


@dataclass
class Institutional:
    """One institution's system: its client, private key and a way to call the API."""

    institution: Institution
    client_id: str
    key: object
    http: object
    token: str = ""

    def fresh_token(self, scopes=ALL_SCOPES) -> str:
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self.client_id,
                "sub": self.client_id,
                "aud": "http://testserver" + TOKEN_PATH,
                "exp": now + 240,
                "iat": now,
                "jti": str(uuid.uuid4()),
            },
            self.key,
            algorithm="ES256",
            headers={"kid": "k1"},
        )
        response = self.http.post(
            TOKEN_PATH,
            data=urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_assertion": assertion,
                    "scope": " ".join(scopes),
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                }
            ),
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200, response.json()
        self.token = response.json()["access_token"]
        return self.token

    def get(self, path, **params):
        return self.http.get(path, params, HTTP_AUTHORIZATION=f"Bearer {self.token}")

    def post(self, path, body=None):
        return self.http.post(
            path, body or {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.token}"
        )


def institutional_system(institution, http, scopes=ALL_SCOPES) -> Institutional:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"}
    client = do_register_client(institution, "電子カルテ", {"keys": [jwk]}, scopes)
    system = Institutional(institution, client.client_id, key, http)
    system.fresh_token(scopes)
    return system


@pytest.fixture
def clinic_api(api_settings, clinic, client):
    return institutional_system(clinic, client)


@pytest.fixture
def other_api(api_settings, other_clinic, db):
    from django.test import Client

    return institutional_system(other_clinic, Client())


def log_rows(**filters) -> int:
    return AccessEvent.objects.filter(**filters).count()


def ok_rows(institution) -> int:
    return log_rows(institution_code=institution.code, actor_type="institution_client", outcome="ok")


def now():
    return timezone.now()


@pytest.fixture
def holder(clinic, make_patient):
    """A patient with a home-visit consent holding 難病 (ended yesterday) and 精神通院 (from tomorrow)
    and 医療扶助 (open-ended, no 受給者番号)."""
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["qualification"])
    today = rules.today()
    day = datetime.timedelta(days=1)
    person = patient.person
    PublicExpenseCertificate.objects.create(
        person=person,
        programme="54",
        payer_number=with_check_digit("5413001"),
        recipient_number=with_check_digit("123456"),
        valid_from=today - 30 * day,
        valid_until=today - day,
        monthly_self_pay_limit=10000,
    )
    PublicExpenseCertificate.objects.create(
        person=person,
        programme="21",
        payer_number=with_check_digit("2113001"),
        recipient_number=with_check_digit("654321"),
        valid_from=today + day,
        valid_until=today + 365 * day,
        monthly_self_pay_limit=5000,
        designated_institutions="0110113719 0140110008",
    )
    PublicExpenseCertificate.objects.create(
        person=person, programme="12", payer_number=with_check_digit("1213001"), valid_from=today - 90 * day
    )
    return patient, today


# --- a generated population for pinning the fast eligibility paths to the general one ----------
@pytest.fixture
def population(settings):
    """300 seeded persons; two institutions; consents in every state for most of them (the fast
    eligibility paths are pinned to the general one over it)."""
    settings.CLINICAPI_THROTTLE_RATES = {"client": "100000/min", "token": "100000/min"}
    seed_registry(persons=300, seed=11)
    _public_expense_for_some()
    here = Institution.objects.create(code=with_check_digit("131888888"), name="ピン留めクリニック")
    there = Institution.objects.create(code=with_check_digit("131777777"), name="となり医院")
    now = timezone.now()
    today = rules.today()
    chance = random.Random(15)
    scenarios = [
        "none",
        "home",
        "home_limit",
        "cancelled",
        "expired",
        "telehealth_today",
        "telehealth_later",
        "other_institution",
        "future",
        "qualification_only",
        "both",
    ]
    for person in Person.objects.order_by("pk"):
        scenario = chance.choice(scenarios)
        base = {
            "person": person,
            "items": ["qualification", "medication"],
            "given_at": now - datetime.timedelta(days=3),
        }

        def add(institution=here, kind=ConsentKind.HOME_VISIT, **fields):
            Consent.objects.create(**{**base, "institution": institution, "kind": kind, **fields})

        if scenario in ("home", "both"):
            add()
        if scenario in ("home_limit", "both"):
            add(
                kind=ConsentKind.QUALIFICATION_ONLY if scenario == "both" else ConsentKind.HOME_VISIT,
                items=["limit_certificate", "qualification"],
                given_at=now - datetime.timedelta(days=1),
            )
        if scenario == "cancelled":
            add(
                status=ConsentStatus.CANCELLED,
                ended_at=now - datetime.timedelta(hours=1),
                ended_by=ConsentEndedBy.PATIENT,
            )
        if scenario == "expired":
            add(available_until=now - datetime.timedelta(minutes=5))
        if scenario == "telehealth_today":
            add(
                kind=ConsentKind.TELEHEALTH,
                visit_date=today,
                available_until=rules.start_of_day(today) + datetime.timedelta(days=1),
            )
        if scenario == "telehealth_later":
            later = today + datetime.timedelta(days=2)
            add(kind=ConsentKind.TELEHEALTH, visit_date=later, given_at=now + datetime.timedelta(days=1))
        if scenario == "other_institution":
            add(institution=there, items=["limit_certificate", "qualification"])
        if scenario == "future":
            add(given_at=now + datetime.timedelta(minutes=10))
        if scenario == "qualification_only":
            add(kind=ConsentKind.QUALIFICATION_ONLY, items=["qualification"])
    return here, there


def _public_expense_for_some():
    """公費 certificates for one person in four (the seeder writes only a few per thousand): ended,
    in force, open-ended and not yet begun, so both paths must pick the same ones by date."""
    today = rules.today()
    day = datetime.timedelta(days=1)
    spans = [(-400, -1), (-30, 300), (-10, None), (1, 365)]
    for i, person_id in enumerate(Person.objects.order_by("pk").values_list("pk", flat=True)[::4]):
        for j, (start, end) in enumerate(spans[: 1 + i % 4]):
            programme = ("54", "21", "12", "52")[j]
            PublicExpenseCertificate.objects.create(
                person_id=person_id,
                programme=programme,
                payer_number=with_check_digit(f"{programme}13001"),
                recipient_number="" if programme == "12" else with_check_digit(f"{person_id % 10**6:06d}"),
                valid_from=today + start * day,
                valid_until=None if end is None else today + end * day,
                monthly_self_pay_limit=None if programme == "12" else 5000,
                designated_institutions="0110113719" if j == 1 else "",
            )


@pytest.fixture
def tokens(population):
    """Bearer tokens in six states: ours, without the scope, the other institution's, expired,
    of a revoked client, garbage."""
    here, there = population
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    JWKS = {"keys": [{**jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True), "kid": "k1"}]}
    scopes = ["qualification.read", "medication.read"]
    ours = do_register_client(here, "電子カルテ", JWKS, scopes)
    no_scope = do_register_client(here, "会計", JWKS, ["medication.read"])
    revoked = do_register_client(here, "旧システム", JWKS, scopes)
    theirs = do_register_client(there, "となりのカルテ", JWKS, scopes)
    tokens = {
        "ours": do_issue_access_token(ours, scopes)[0],
        "no_scope": do_issue_access_token(no_scope, ["medication.read"])[0],
        "theirs": do_issue_access_token(theirs, scopes)[0],
        "expired": do_issue_access_token(ours, scopes, now=timezone.now() - datetime.timedelta(hours=2))[0],
        "revoked": do_issue_access_token(revoked, scopes)[0],
        "garbage": "x" * 43,
    }
    do_revoke_client(revoked)
    return tokens
