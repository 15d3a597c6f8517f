"""The one-call eligibility check (clinicapi.fastcheck, PostgreSQL) pinned to the general DRF path
over a generated population: the same answers, the same refusals, the same access-log rows, and a
log that verify_access_log accepts.

Each case is asked twice in turn, through the general view (HOMECONSENT_API_FAST_CHECK off) and
through the fast path, on the same rows. Consents are written as rows here: the population is data
for comparing two readers of it (the card path that registers consents is tested in tests/consent).
"""

import datetime
import json
import random

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinicapi import fastcheck
from clinicapi.auth import do_issue_access_token, do_register_client, do_revoke_client
from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent import rules
from homeconsent.consent.models import Consent, ConsentEndedBy, ConsentKind, ConsentStatus
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, Person, PublicExpenseCertificate
from homeconsent.registry.seeding import seed_registry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LOGGED = (
    "actor_type",
    "actor_id",
    "institution_code",
    "person_id",
    "items",
    "basis",
    "outcome",
    "consent_id",
    "detail",
    "chain",
)


@pytest.fixture
def population(settings):
    """300 seeded persons; two institutions; consents in every state for most of them."""
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


def _tokens(here, there):
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


def _ask(http, url, token, fast: bool, settings):
    last = AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with override_settings(CLINICAPI_FAST_CHECK=fast), CaptureQueriesContext(connection) as seen:
        response = http.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    rows = list(AccessEvent.objects.filter(pk__gt=last).order_by("pk").values(*LOGGED))
    body = json.loads(response.content)
    body.pop("process_execution_time", None)
    headers = {k: v for k, v in response.items() if k not in ("Date",)}
    # The fast path's one statement goes to psycopg directly: Django sees no query of an answer it gave.
    return response.status_code, body, headers, rows, len(seen) == 0


def test_the_one_call_check_answers_refuses_and_logs_as_the_general_path(population, settings):
    # given a generated population, tokens in every state, and the function installed by migrate
    here, there = population
    tokens = _tokens(here, there)
    assert fastcheck.enabled(connection)
    http = Client()
    persons = list(Person.objects.order_by("pk").values_list("pk", flat=True))
    # the first successful answer through the general path teaches the fast path the throttle key
    for token in tokens.values():
        http.get(
            f"/api/v1/patients/{patient_id_for(here.code, persons[0])}/eligibility",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    ok = answered_fast = with_public = 0

    # when each (token, patient id) is asked through the general path and then the fast one
    for person_id in persons:
        for name, token in tokens.items():
            if name not in ("ours", "theirs") and person_id % 7:
                continue  # the refusing tokens on a sample of the persons: they never reach a read
            for code in (here.code, there.code):
                url = f"/api/v1/patients/{patient_id_for(code, person_id)}/eligibility"
                general = _ask(http, url, token, False, settings)
                fast = _ask(http, url, token, True, settings)

                # then status, body, headers and the logged row are the same
                assert fast[:3] == general[:3], (name, person_id, code)
                assert fast[3] == general[3], (name, person_id, code)
                assert not general[4]
                ok += general[0] == 200
                with_public += bool(general[1].get("public_expense_certificate_list"))
                answered_fast += fast[4]
                assert fast[4] == (general[0] == 200), (name, person_id, code)
    for url in (
        "/api/v1/patients/not-a-patient-id/eligibility",
        "/api/v1/patients/" + "a" * 26 + "/eligibility",
    ):
        assert (
            _ask(http, url, tokens["ours"], True, settings)[:2]
            == _ask(http, url, tokens["ours"], False, settings)[:2]
        )

    # and the fast path did answer every successful check, every row chains and verifies
    assert answered_fast == ok > 50
    assert with_public > 5  # answers carrying 公費 certificates were compared too
    statuses = {
        s
        for s, *_ in [
            _ask(
                http,
                f"/api/v1/patients/{patient_id_for(here.code, p)}/eligibility",
                tokens["ours"],
                True,
                settings,
            )
            for p in persons[:40]
        ]
    }
    assert statuses == {200, 404}
    report = verify_log()
    assert report.ok, report.broken
    assert report.total == AccessEvent.objects.count()


def test_a_refused_fast_call_writes_nothing(population, settings):
    # given a token of the other institution and a patient of ours
    here, there = population
    tokens = _tokens(here, there)
    person = Person.objects.order_by("pk").first()
    consent_count, rows = Consent.objects.count(), AccessEvent.objects.count()

    # when the function itself is asked (no Python in front of it)
    found = fastcheck._call(
        connection,
        fastcheck._function(connection),
        fastcheck._token_hash(tokens["theirs"]),
        int(here.code),
        person.pk,
        rules.today(),
        timezone.now(),
    )

    # then it refuses by the institution and nothing was written
    assert [row[0] for row in found] == ["patient"]
    assert (Consent.objects.count(), AccessEvent.objects.count()) == (consent_count, rows)
