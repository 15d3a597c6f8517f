"""The telehealth apps' API answers every error with a coded body {"code", "message", "message_en"}."""

import base64
import datetime
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.throttling import BaseThrottle

from homeconsent.consent import api, telehealth
from homeconsent.consent.rules import TOKYO

RETURN_URL = "https://tele.example.jp/visits/return"
SESSIONS = "/consent/api/v1/sessions"


@pytest.fixture
def app_and_secret(institution):
    return telehealth.do_register_app(
        "みらいオンライン診療", institutions=[institution], allowed_return_urls=[RETURN_URL]
    )


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.fixture
def client(app_and_secret):
    app, secret = app_and_secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(app.client_id, secret))
    return client


def coded(response, status, code) -> dict:
    body = json.loads(response.content)
    assert (response.status_code, body.get("code")) == (status, code), body
    assert body["message"] and body["message_en"] and "detail" not in body
    return body


def session_request(institution) -> dict:
    visit = timezone.now().astimezone(TOKYO).date() + datetime.timedelta(days=1)
    return {
        "institution": institution.code,
        "visit_date": visit.isoformat(),
        "items": [],
        "return_url": RETURN_URL,
    }


def test_a_malformed_json_body_is_a_coded_error(client):
    response = client.post(SESSIONS, '{"institution": ', content_type="application/json")
    body = coded(response, 400, "body_malformed")
    assert "JSON" in body["message_en"]


def test_a_body_that_is_not_json_is_a_coded_error(client, institution):
    response = client.post(
        SESSIONS, "institution=1312345676", content_type="application/x-www-form-urlencoded"
    )
    body = coded(response, 415, "unsupported_media_type")
    assert "application/x-www-form-urlencoded" in body["message_en"]


def test_a_method_the_endpoint_does_not_have_is_a_coded_error(client):
    response = client.delete(SESSIONS)
    coded(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_a_response_type_we_do_not_give_is_a_coded_error(client):
    coded(client.get(f"{SESSIONS}/x", HTTP_ACCEPT="text/html"), 406, "not_acceptable")


def test_a_path_that_is_not_in_the_api_is_a_coded_404(client):
    coded(client.get("/consent/api/v1/session"), 404, "not_found")
    coded(APIClient().post("/consent/api/v1/nothing/here", {}, format="json"), 404, "not_found")


def test_every_authentication_failure_is_coded_and_names_basic(app_and_secret, institution):
    app, secret = app_and_secret
    for authorization in (
        None,
        basic(app.client_id, secret + "x"),
        "Basic not-base64!",
        "Basic a b",
        "Bearer abc",
    ):
        client = APIClient()
        if authorization:
            client.credentials(HTTP_AUTHORIZATION=authorization)
        response = client.post(SESSIONS, session_request(institution), format="json")
        coded(response, 401, "telehealth_app_unauthenticated")
        assert response["WWW-Authenticate"].startswith('Basic realm="homeconsent-telehealth"')
    telehealth.do_revoke_app(app)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(app.client_id, secret))
    coded(client.get(f"{SESSIONS}/x"), 401, "telehealth_app_unauthenticated")


class Exhausted(BaseThrottle):
    """An app that has used up its requests for the next 12 seconds."""

    def allow_request(self, request, view):
        return False

    def wait(self):
        return 11.2


def test_throttling_is_a_coded_error_with_retry_after(app_and_secret):
    # given the session endpoint with a throttle the app has exhausted
    app, secret = app_and_secret
    view = type("ThrottledSession", (api.SessionDetailView,), {"throttle_classes": [Exhausted]}).as_view()
    request = APIRequestFactory().get(f"{SESSIONS}/x", HTTP_AUTHORIZATION=basic(app.client_id, secret))

    response = view(request, session_id="x").render()

    body = coded(response, 429, "rate_limited")
    assert response["Retry-After"] == "12" and "12" in body["message_en"]


def test_each_app_is_held_to_its_own_request_rate(client, app_and_secret, institution, settings):
    # given a rate of 3 requests a minute per app, and a second app of the same clinic
    settings.TELEHEALTH_APP_RATE = "3/min"
    other, other_secret = telehealth.do_register_app(
        "別のアプリ", institutions=[institution], allowed_return_urls=[RETURN_URL]
    )
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=basic(other.client_id, other_secret))

    # when the first app polls three times, then once more
    answers = [client.get(f"{SESSIONS}/unknown").status_code for _ in range(3)]
    refused = client.get(f"{SESSIONS}/unknown")

    # then the fourth is refused with its code and a wait, and the other app is not held back
    assert answers == [404, 404, 404]
    assert coded(refused, 429, "rate_limited") and int(refused["Retry-After"]) > 0
    assert other_client.get(f"{SESSIONS}/unknown").status_code == 404
