"""The eligibility check's route on the event loop (clinicapi.fastroute, what bin/serve runs)
pinned to the general DRF path over the generated population: the same status, body and headers
(security headers included, over HTTPS behind the proxy and in English too), the same log rows,
every refusal answered by Django, and a log that verify_access_log accepts.

The route is driven as the server drives it, an ASGI call in one event loop, with Django behind it
on a2wsgi's thread pool (homeconsent.serving); the general path is Django's test client with the
fast check off.
"""

import asyncio
import json

import pytest
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.test import Client, override_settings

from clinicapi.fastroute import FastEligibility
from clinicapi.patients import patient_id_for
from homeconsent import serving
from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.registry.models import Person
from tests.clinicapi.test_fastcheck import LOGGED

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Request header variants whose answers carry different middleware headers.
VARIANTS = {
    "plain": {},
    "https behind the proxy": {"x-forwarded-proto": "https"},
    "english": {"accept-language": "en", "accept": "application/json"},
}


class DjangoBehind:
    """Django on a2wsgi's thread pool as bin/serve runs it; counts the requests that reach it."""

    def __init__(self):
        # A new handler: middlewares read their settings when they are made.
        self.app = serving.ThreadPoolHttp(get_wsgi_application(), 4)
        self.calls = 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        return await self.app(scope, receive, send)


@pytest.fixture
def route(settings):
    settings.CLINICAPI_FAST_ROUTE = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_SSL_REDIRECT = False
    django = DjangoBehind()
    fast = FastEligibility(django)
    loop = asyncio.new_event_loop()
    yield fast, django, loop
    loop.run_until_complete(fast.close())
    loop.close()


async def _asgi_get(app, path, query, headers):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in [("host", "testserver"), *headers]],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


def _last_event():
    return AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _answer(status, headers, body, since):
    rows = list(AccessEvent.objects.filter(pk__gt=since).order_by("pk").values(*LOGGED))
    parsed = json.loads(body)
    parsed.pop("process_execution_time", None)
    headers = {k: v for k, v in headers.items() if k != "date"}
    return status, parsed, headers, rows


def _through_route(route, path, token, variant, query=""):
    fast, django, loop = route
    since, calls = _last_event(), django.calls
    headers = [("authorization", f"Bearer {token}"), *VARIANTS[variant].items()]
    status, answer_headers, body = loop.run_until_complete(_asgi_get(fast, path, query, headers))
    return _answer(status, answer_headers, body, since), django.calls == calls


def _through_django(http, path, token, variant):
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in VARIANTS[variant].items()}
    since = _last_event()
    with override_settings(CLINICAPI_FAST_CHECK=False):
        response = http.get(path, HTTP_AUTHORIZATION=f"Bearer {token}", **meta)
    headers = {k.lower(): v for k, v in response.items()}
    return _answer(response.status_code, headers, response.content, since)


def test_the_route_answers_refuses_and_logs_as_the_general_path(population, tokens, route):
    # given the generated population, tokens in every state, and the route in front of Django
    here, there = population
    http = Client()
    persons = list(Person.objects.order_by("pk").values_list("pk", flat=True))
    ok = answered_fast = 0
    variants = list(VARIANTS)

    # when each (token, patient id) is asked through the general path and then through the route
    for i, person_id in enumerate(persons):
        for name, token in tokens.items():
            if name not in ("ours", "theirs") and person_id % 7:
                continue  # the refusing tokens on a sample of the persons
            for code in (here.code, there.code):
                path = f"/api/v1/patients/{patient_id_for(code, person_id)}/eligibility"
                variant = variants[i % len(variants)]
                general = _through_django(http, path, token, variant)
                routed, fast = _through_route(route, path, token, variant)

                # then status, body, headers and the logged rows are the same
                assert routed == general, (name, person_id, code, variant)
                secure = variant == "https behind the proxy"
                assert ("strict-transport-security" in routed[2]) == secure
                ok += general[0] == 200
                answered_fast += fast
                if general[0] != 200:
                    assert not fast, "a refusal is Django's own answer"

    # and the route answered nearly every successful check itself (Django taught it each client and
    # header variant once), the headers included HSTS over HTTPS only, every row chains and verifies
    assert ok > 100
    assert ok - 2 * len(VARIANTS) <= answered_fast < ok
    report = verify_log()
    assert report.ok, report.broken
    assert report.total == AccessEvent.objects.count()


def _consented_path(route, institution, token):
    """A patient id of `institution` whose check is answered (asked once, through Django)."""
    return next(
        path
        for person_id in Person.objects.order_by("pk").values_list("pk", flat=True)
        if (path := f"/api/v1/patients/{patient_id_for(institution.code, person_id)}/eligibility")
        and _through_route(route, path, token, "plain")[0][0] == 200
    )


def test_what_the_route_leaves_to_django(population, tokens, route):
    # given a patient with a consent in force, whose check the route answers itself
    here, _ = population
    answered = _consented_path(route, here, tokens["ours"])
    assert _through_route(route, answered, tokens["ours"], "plain")[1]

    # when the same check comes with a query string, a cookie, a repeated header, or the FHIR route
    fast, django, loop = route
    cases = {
        "query": (answered, "on=2026-01-05", []),
        "cookie": (answered, "", [("cookie", "django_language=en")]),
        "header twice": (answered, "", [("accept-language", "en"), ("accept-language", "ja")]),
        "fhir": ("/api/v1/fhir" + answered.removeprefix("/api/v1"), "", []),
    }
    for case, (path, query, extra) in cases.items():
        calls = django.calls
        headers = [("authorization", f"Bearer {tokens['ours']}"), *extra]
        status, _, _ = loop.run_until_complete(_asgi_get(fast, path, query, headers))

        # then Django answers it
        assert django.calls == calls + 1, case
        assert status in (200, 400), case


def test_the_route_counts_the_clients_requests_with_django(population, tokens, route, settings):
    # given a patient whose check the route answers, and a client allowed three checks a minute
    here, _ = population
    path = _consented_path(route, here, tokens["ours"])
    settings.CLINICAPI_THROTTLE_RATES = {"client": "3/min", "token": "100/min"}
    cache.clear()

    # when the client asks four times
    answers = [_through_route(route, path, tokens["ours"], "plain") for _ in range(4)]

    # then three are answered on the loop and the fourth is Django's 429, with nothing logged
    assert [(a[0][0], a[1]) for a in answers] == [(200, True), (200, True), (200, True), (429, False)]
    assert answers[3][0][3] == []
