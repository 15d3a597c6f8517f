"""The one-call medication read (clinicapi.fastmedication, PostgreSQL) pinned to the general DRF path
over the generated population of test_fastcheck: the same answers, the same refusals, the same
access-log rows, and a log that verify_access_log accepts; a missing function falls back cleanly.

Each case is asked twice in turn, through the general view (HOMECONSENT_API_FAST_CHECK off) and
through the fast path, on the same rows.
"""

import datetime
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinicapi.auth import do_issue_access_token, do_register_client
from clinicapi.fastcheck import _token_hash
from clinicapi.fastmedication import MEDICATION, parameters
from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent import rules
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, MedicationRecord, Person
from tests.clinicapi.test_fastcheck import LOGGED

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _month(months_ago: int) -> str:
    today = rules.today()
    index = today.year * 12 + today.month - 1 - months_ago
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# Query strings in the plain forms the fast path reads, and some it leaves to the general path.
PLAIN_QUERIES = [
    "",
    f"month_from={_month(5)}",
    f"month_to={_month(1)}",
    f"month_from={_month(8)}&month_to={_month(6)}",
    "source=claims",
    f"source=dispensing&month_from={_month(11)}",
    f"month_to={_month(0)}&source=e_prescription&month_from={_month(2)}",
    f"month_from={_month(60)}&month_to={_month(48)}",  # before the 3 years kept: clipped, no rows
    f"month_from={_month(40)}",  # clipped to the 3 years kept
    f"month_to={_month(-3)}",  # a month ahead: up to today
]
UNUSUAL_QUERIES = [
    "month_from=2026-13",
    "source=bogus",
    "month_from=",
    f"month_from={_month(1)}&month_from={_month(2)}",
    f"month_from={_month(1)}&month_to={_month(3)}",  # reversed
    "foo=1",
    "format=json",
    f"month_from={_month(1)}&",
    "source=claims%00",
]


@pytest.fixture
def medication_tokens(population, tokens):
    """The shared tokens, one of our clients without medication.read, and one of a site that became
    qualification-only (資格確認限定型) after its token was issued with the scope."""
    here, _ = population
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwks = {"keys": [{**jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True), "kid": "k1"}]}
    front_desk = do_register_client(here, "受付", jwks, ["qualification.read"])
    site = Institution.objects.create(code=with_check_digit("131666666"), name="さくら接骨院")
    scopes = ["qualification.read", "medication.read"]
    site_token = do_issue_access_token(do_register_client(site, "施術録", jwks, scopes), scopes)[0]
    Institution.objects.filter(pk=site.pk).update(qualification_only=True)
    _records_without_institutions()
    return {
        **tokens,
        "no_medication": do_issue_access_token(front_desk, ["qualification.read"])[0],
        "qualification_only": site_token,
    }


def _records_without_institutions():
    """Records whose institutions are not in the registry (the seeder always names both): one person
    in nine gets a recent one, dispensed the same day as another record of a different source."""
    today = rules.today()
    for i, person_id in enumerate(Person.objects.order_by("pk").values_list("pk", flat=True)[::9]):
        MedicationRecord.objects.create(
            person_id=person_id,
            source=("claims", "dispensing", "e_prescription")[i % 3],
            dispensed_on=today - datetime.timedelta(days=3 + i % 40),
            dispensing_institution_name="旧・みなと薬局",
            prescribing_institution=None if i % 2 else Institution.objects.order_by("pk").first(),
            drug_code="620000001",
            drug_name="テスト錠",
            quantity="1.500",
            unit="錠",
        )


def _ask(http, url, token, fast: bool):
    last = AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    connection.queries_log.clear()  # the log keeps 9,000 queries: a full one would count none
    with override_settings(CLINICAPI_FAST_CHECK=fast), CaptureQueriesContext(connection) as seen:
        response = http.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    rows = list(AccessEvent.objects.filter(pk__gt=last).order_by("pk").values(*LOGGED))
    body = json.loads(response.content)
    body.pop("process_execution_time", None)
    headers = {k: v for k, v in response.items() if k != "Date"}
    # The fast path's one statement goes to psycopg directly: Django sees no query of an answer it gave.
    return response.status_code, body, headers, rows, len(seen) == 0


def test_the_one_call_medication_read_answers_refuses_and_logs_as_the_general_path(
    population, medication_tokens
):
    # given the generated population (with the seeder's medication history), tokens in every
    # state, and the function installed by migrate
    here, there = population
    assert MEDICATION.enabled(connection)
    http = Client()
    persons = list(Person.objects.order_by("pk").values_list("pk", flat=True))
    ok = answered_fast = records = empty = without_institution = 0
    seen_sources, seen_queries = set(), set()

    # when each (token, patient id, query) is asked through the general path and then the fast one
    for i, person_id in enumerate(persons):
        query = PLAIN_QUERIES[i % len(PLAIN_QUERIES)]
        for name, token in medication_tokens.items():
            if name not in ("ours", "theirs") and person_id % 7:
                continue  # the refusing tokens on a sample of the persons: they never reach a read
            for code in (here.code, there.code):
                url = f"/api/v1/patients/{patient_id_for(code, person_id)}/medication" + (
                    f"?{query}" if query else ""
                )
                general = _ask(http, url, token, False)
                fast = _ask(http, url, token, True)

                # then status, body, headers and the logged rows are the same
                case = (name, person_id, code, query)
                assert fast[:3] == general[:3], case
                assert fast[3] == general[3], case
                assert not general[4]
                assert fast[4] == (general[0] == 200), case
                ok += general[0] == 200
                answered_fast += fast[4]
                if general[0] == 200:
                    records += general[1]["count"]
                    empty += general[1]["count"] == 0
                    seen_queries.add(query)
                    answered = [r for m in general[1]["months"] for r in m["records"]]
                    seen_sources |= {r["source"] for r in answered}
                    without_institution += any(r["dispensing_institution_code"] == "" for r in answered)

    # and the fast path answered every successful read, over every query form, with and without
    # rows, every source, and institutions on both sides of the records
    assert answered_fast == ok > 50
    assert seen_queries == set(PLAIN_QUERIES)
    assert records > 200 and empty > 5, (ok, records, empty)
    assert seen_sources == {"claims", "dispensing", "e_prescription"}
    assert without_institution > 3
    report = verify_log()
    assert report.ok, report.broken
    assert report.total == AccessEvent.objects.count()


def _consented_url(here, token) -> str:
    """A medication URL of ours that the fast path answers (asked once through the general path)."""
    http = Client()
    for person_id in Person.objects.order_by("pk").values_list("pk", flat=True):
        url = f"/api/v1/patients/{patient_id_for(here.code, person_id)}/medication"
        if _ask(http, url, token, False)[0] == 200 and _ask(http, url, token, True)[4]:
            return url
    raise AssertionError("no consented patient")


def test_unusual_query_strings_and_fhir_take_the_general_path(population, medication_tokens):
    # given a consented patient whose plain read the fast path answers
    here, _ = population
    url = _consented_url(here, medication_tokens["ours"])
    http = Client()

    # when the read comes with a query string the fast path does not read, or as FHIR
    cases = [f"{url}?{query}" for query in UNUSUAL_QUERIES] + ["/api/v1/fhir" + url.removeprefix("/api/v1")]
    for case in cases:
        general = _ask(http, case, medication_tokens["ours"], False)
        fast = _ask(http, case, medication_tokens["ours"], True)

        # then the general path answers it, the same way both times
        assert not fast[4], case
        assert fast[:4] == general[:4], case
    accept = http.get(
        url, HTTP_AUTHORIZATION=f"Bearer {medication_tokens['ours']}", HTTP_ACCEPT="application/fhir+json"
    )
    assert accept["Content-Type"].startswith("application/fhir+json")


def test_a_missing_function_falls_back_to_the_general_path(population, medication_tokens):
    # given a consented patient whose read the fast path answers
    here, _ = population
    token = medication_tokens["ours"]
    url = _consented_url(here, token)
    http = Client()
    expected = _ask(http, url, token, False)
    try:
        # when the function is dropped under a running process, and then looked for again
        with connection.cursor() as cursor:
            cursor.execute(f"DROP FUNCTION {MEDICATION.name(connection)}")
        dropped = _ask(http, url, token, True)
        missing = _ask(http, url, token, True)

        # then both reads are the general path's answers, each logged once
        for answer in (dropped, missing):
            assert not answer[4]
            assert answer[:4] == expected[:4]
        assert not MEDICATION.enabled(connection)
    finally:
        MEDICATION.install(connection)

    # and once installed again the fast path answers (after looking the function up once)
    assert MEDICATION.enabled(connection)
    assert _ask(http, url, token, True)[4]
    assert verify_log().ok


def test_a_refused_call_writes_nothing(population, medication_tokens):
    # given a token of the qualification-only site and one without the scope, and a patient of ours
    here, _ = population
    person = Person.objects.order_by("pk").first()
    rows = AccessEvent.objects.count()
    today = rules.today()

    def called(token):
        asked = (None, None, None, today - datetime.timedelta(days=92), today)
        found = MEDICATION.call(
            connection,
            MEDICATION.name(connection),
            parameters(_token_hash(token), int(here.code), person.pk, asked, timezone.now()),
        )
        return [row[0] for row in found]

    # when the function itself is asked (no Python in front of it)
    # then it refuses by the institution, the scope, the site, the token, and nothing was written
    assert called(medication_tokens["theirs"]) == ["patient"]
    assert called(medication_tokens["no_medication"]) == ["scope"]
    assert called(medication_tokens["qualification_only"]) == ["qualification_only"]
    assert called(medication_tokens["expired"]) == ["token"]
    assert AccessEvent.objects.count() == rows
