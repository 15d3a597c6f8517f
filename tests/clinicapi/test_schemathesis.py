"""schemathesis against the served OpenAPI schema, with every check, positive and negative: generated
requests with a real bearer token never meet a server error; the answers match what the schema says
(status codes, content types, headers, bodies); what the schema allows is accepted and what it
forbids is refused (issue 13, item 5).

Bounded: a handful of examples per operation and mode, no shrinking, a per-example deadline; the
whole module runs in about a minute (52 s on the 2-core development machine).
"""

import base64
import datetime
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from clinicapi.auth import do_register_client
from clinicapi.client.core import generate_key, public_jwk, sign_assertion
from homeconsent.consent.models import Consent
from homeconsent.registry.codes import municipality_code, with_check_digit
from homeconsent.registry.models import Institution, Insurer, Person
from homeconsent.registry.seeding import seed_demo_persons, seed_registry
from homeconsent.special_access.services import do_open_disaster_scope
from tests.consent.conftest import make_patient_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

CODE = "0110113719"
KANAZAWA = municipality_code("17201")
SCOPES = (
    "qualification.read consent.read consent.write medication.read treatment.read checkup.read batch.write "
    "disaster.read paper_certificate.read"
)
# Every built-in check (`--checks all`); max_response_time is left out: speed is for bench/, not tests.
RANGES = [
    ("date_from", "date_to"),
    ("month_from", "month_to"),
    ("consented_from", "consented_to"),
    ("visit_from", "visit_to"),
]


def _real_day(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
        return True
    except (TypeError, ValueError):
        return False


def within_documented_rules(case, certificate: str) -> None:
    """Positive cases made to respect the rules the schema states in words, not in JSON Schema (each
    parameter's or body's description says it): a range's start not after its end, the reference date
    at most a year ahead, an insurer number's check digit, a birth date that is a real past day, and a
    card search's certificate one of a current card registered for insurance use (here, `certificate`)."""
    today = timezone.localdate()
    if isinstance(case.body, dict) and isinstance(case.body.get("certificate"), str):
        case.body["certificate"] = certificate
    query = case.query or {}
    for start, end in RANGES:
        if (
            isinstance(query.get(start), str)
            and isinstance(query.get(end), str)
            and query[start] > query[end]
        ):
            query[start], query[end] = query[end], query[start]
    bodies = [case.body] if isinstance(case.body, dict) else []
    if isinstance(case.body, dict) and isinstance(case.body.get("entries"), list):
        bodies += [entry for entry in case.body["entries"] if isinstance(entry, dict)]
    for holder in [query, *bodies]:
        on = holder.get("on")
        if isinstance(on, str) and (
            not _real_day(on) or on > (today + datetime.timedelta(days=366)).isoformat()
        ):
            holder["on"] = today.isoformat()
        number = holder.get("insurer_number")
        if isinstance(number, str) and len(number) in (6, 8) and number.isdigit():
            holder["insurer_number"] = with_check_digit(number[:-1])
        born = holder.get("birth_date")
        if isinstance(born, str) and (not _real_day(born) or born > today.isoformat()):
            holder["birth_date"] = "1950-04-02"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    use_after_free,
    ensure_resource_availability,
    ignored_auth,
]


@pytest.fixture
def bearer(db, client, settings):
    """A registered client with every scope, a real token from the token endpoint, and patients with
    consents at its institution so that some reads answer 200."""
    settings.CLINICAPI_THROTTLE_RATES = {"client": "100000/min", "token": "100000/min"}
    # One token for the whole run, which outlasts the usual 5 minutes beside the full suite on 2 cores.
    settings.CLINICAPI_ACCESS_TOKEN_TTL = timedelta(hours=1)
    cache.clear()
    seed_registry(10, seed=5)
    seed_demo_persons()
    institution = Institution.objects.create(code=CODE, name="札幌在宅クリニック")
    key = generate_key("ES256")
    api_client = do_register_client(institution, "schemathesis", {"keys": [public_jwk(key)]}, SCOPES.split())
    for name in ("鈴木 一郎", "山田 太郎"):
        Consent.objects.create(
            person=Person.objects.get(name=name),
            institution=institution,
            kind="home_visit",
            items=["checkup", "limit_certificate", "medication", "qualification", "treatment"],
            given_at=timezone.now() - timedelta(days=1),
        )
    token_url = "http://testserver/api/v1/auth/token"
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": sign_assertion(api_client.client_id, token_url, key),
            "scope": SCOPES,
        }
    )
    response = client.post(token_url, form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    yield response.json()["access_token"]
    cache.clear()


@pytest.fixture
def disaster_card(bearer, settings, api_pki, api_card_pool, tmp_path):
    """The certificate (base64 DER) of a real virtual card, registered for a person (of the seeded
    registry's first insurer) living where a disaster scope is open: a card search with it finds them."""
    settings.JPKI_TRUST_ROOTS = [api_pki.root_path]
    settings.JPKI_CRLS = [api_pki.crl_path]
    settings.SPECIAL_ACCESS_SEARCH_LIMITS = {"actor": 100_000, "institution": 100_000}
    patient = make_patient_in(api_card_pool, tmp_path, Insurer.objects.first(), 0)
    person = patient.person
    person.address, person.address_municipality_code = "石川県金沢市広坂1丁目1-1", KANAZAWA
    person.save(update_fields=["address", "address_municipality_code"])
    today = timezone.localdate()
    do_open_disaster_scope(
        "令和8年能登半島地震",
        [KANAZAWA],
        today - timedelta(days=1),
        today + timedelta(days=6),
        by="operator:test",
    )
    return base64.b64encode(patient.card.auth_cert_der).decode()


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, keeping the test's database connection across requests (as the test
    client does): the end of each request would otherwise close it, inside the test transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_api_matches_its_schema_and_never_fails(bearer, disaster_card, wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", wsgi_app)
    headers = {"Authorization": f"Bearer {bearer}"}
    failures, tried, answered = [], [], set()

    for result in schema.get_all_operations():
        operation = result.ok()
        tried.append(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=20,
                deadline=timedelta(seconds=3),
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                if mode is GenerationMode.POSITIVE:
                    within_documented_rules(case, disaster_card)
                # The token endpoint authenticates the client by its assertion alone (no bearer there). The
                # API takes no header but the bearer: a case made invalid in its headers is one without it.
                bare = operation.label == "POST /api/v1/auth/token" or (
                    case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
                )
                sent = {} if bare else headers
                response = case.call_and_validate(headers=sent, checks=CHECKS)
                if response.status_code < 300:
                    answered.add(operation.label)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — collect every failure, report them all
                failures.append(f"{operation.label} ({mode.value}): {exc}")

    assert len(tried) == 14, tried
    assert not failures, "\n\n".join(failures)
    # The token is real and the data is there: the reads that need no generated id answered, and the
    # disaster search found the card's holder.
    assert {
        "GET /api/v1/whoami",
        "GET /api/v1/patients",
        "POST /api/v1/batches",
        "POST /api/v1/disaster/search",
    } <= answered, answered
