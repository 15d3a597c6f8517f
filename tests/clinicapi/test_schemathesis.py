"""schemathesis against the served OpenAPI schema: generated requests with a real bearer token never
meet a server error, and the answers match what the schema says (status codes, content types, bodies).

Bounded: a handful of examples per operation, no shrinking, a per-example deadline; the whole module
runs in well under a minute.
"""

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
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from clinicapi.auth import do_register_client
from clinicapi.client.core import generate_key, public_jwk, sign_assertion
from homeconsent.consent.models import Consent
from homeconsent.registry.models import Institution, Person
from homeconsent.registry.seeding import seed_demo_persons, seed_registry

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

CODE = "0110113719"
SCOPES = ("qualification.read consent.read consent.write medication.read treatment.read checkup.read batch.write "
          "disaster.read")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def bearer(db, client, settings):
    """A registered client with every scope, a real token from the token endpoint, and patients with
    consents at its institution so that some reads answer 200."""
    settings.CLINICAPI_THROTTLE_RATES = {"client": "100000/min", "token": "100000/min"}
    cache.clear()
    seed_registry(10, seed=5)
    seed_demo_persons()
    institution = Institution.objects.create(code=CODE, name="札幌在宅クリニック")
    key = generate_key("ES256")
    api_client = do_register_client(institution, "schemathesis", {"keys": [public_jwk(key)]}, SCOPES.split())
    for name in ("鈴木 一郎", "山田 太郎"):
        Consent.objects.create(person=Person.objects.get(name=name), institution=institution, kind="home_visit",
                               items=["checkup", "limit_certificate", "medication", "qualification", "treatment"],
                               given_at=timezone.now() - timedelta(days=1))  # fmt: skip
    token_url = "http://testserver/api/v1/auth/token"
    form = urlencode({
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": sign_assertion(api_client.client_id, token_url, key),
        "scope": SCOPES,
    })  # fmt: skip
    response = client.post(token_url, form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    yield response.json()["access_token"]
    cache.clear()


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, keeping the test's database connection across requests (as the test
    client does): the end of each request would otherwise close it, inside the test transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_api_matches_its_schema_and_never_fails(bearer, wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", wsgi_app)
    headers = {"Authorization": f"Bearer {bearer}"}
    failures, tried, answered = [], [], set()

    for result in schema.get_all_operations():
        operation = result.ok()
        tried.append(operation.label)

        @settings(max_examples=6, deadline=timedelta(seconds=3), phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), derandomize=True, database=None)  # fmt: skip
        @given(case=operation.as_strategy())
        def run(case):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            if response.status_code < 300:
                answered.add(operation.label)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 — collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")

    assert len(tried) == 13, tried
    assert not failures, "\n\n".join(failures)
    # The token is real and the data is there: the reads that need no generated id answered.
    assert {"GET /api/v1/whoami", "GET /api/v1/patients", "POST /api/v1/batches"} <= answered, answered
