"""The one-call eligibility check (clinicapi.fastcheck, PostgreSQL) pinned to the general DRF path
over a generated population: the same answers, the same refusals, the same access-log rows, and a
log that verify_access_log accepts.

Each case is asked twice in turn, through the general view (HOMECONSENT_API_FAST_CHECK off) and
through the fast path, on the same rows. Consents are written as rows here: the population is data
for comparing two readers of it (the card path that registers consents is tested in tests/consent).
"""

import json

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinicapi import fastcheck
from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent import rules
from homeconsent.consent.models import Consent
from homeconsent.registry.models import Person

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


def _ask(http, url, token, fast: bool, settings):
    last = AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    connection.queries_log.clear()  # the log keeps 9,000 queries: a full one would count none
    with override_settings(CLINICAPI_FAST_CHECK=fast), CaptureQueriesContext(connection) as seen:
        response = http.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    rows = list(AccessEvent.objects.filter(pk__gt=last).order_by("pk").values(*LOGGED))
    body = json.loads(response.content)
    body.pop("process_execution_time", None)
    headers = {k: v for k, v in response.items() if k not in ("Date",)}
    # The fast path's one statement goes to psycopg directly: Django sees no query of an answer it gave.
    return response.status_code, body, headers, rows, len(seen) == 0


def test_the_one_call_check_answers_refuses_and_logs_as_the_general_path(population, tokens, settings):
    # given a generated population, tokens in every state, and the function installed by migrate
    here, there = population
    assert fastcheck.ELIGIBILITY.enabled(connection)
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


def test_a_refused_fast_call_writes_nothing(population, tokens, settings):
    # given a token of the other institution and a patient of ours
    here, there = population
    person = Person.objects.order_by("pk").first()
    consent_count, rows = Consent.objects.count(), AccessEvent.objects.count()

    # when the function itself is asked (no Python in front of it)
    found = fastcheck.ELIGIBILITY.call(
        connection,
        fastcheck.ELIGIBILITY.name(connection),
        fastcheck.call_parameters(
            fastcheck._token_hash(tokens["theirs"]), int(here.code), person.pk, rules.today(), timezone.now()
        ),
    )

    # then it refuses by the institution and nothing was written
    assert [row[0] for row in found] == ["patient"]
    assert (Consent.objects.count(), AccessEvent.objects.count()) == (consent_count, rows)
