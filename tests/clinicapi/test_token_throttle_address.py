"""The token URL's per-address limit is keyed on the project's client address, which honours
CLIENT_IP_PROXY_COUNT, so a forged X-Forwarded-For is not a new budget."""

from urllib.parse import urlencode

import pytest

from tests.clinicapi.test_auth import ASSERTION_TYPE, TOKEN_PATH

pytestmark = pytest.mark.django_db


def request_token(client, assertion, **headers):
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    return client.post(
        TOKEN_PATH, data=urlencode(form), content_type="application/x-www-form-urlencoded", **headers
    )


def test_a_varying_forwarded_header_does_not_escape_the_token_limit(client, settings):
    # given no proxy in front and a limit of two a minute
    settings.CLIENT_IP_PROXY_COUNT = 0
    settings.CLINICAPI_THROTTLE_RATES = {"client": "600/min", "token": "2/min"}

    # when each request claims another address
    answers = [request_token(client, "x.y.z", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}") for n in range(3)]

    # then the third is still refused
    assert [a.status_code for a in answers] == [401, 401, 429]  # unreadable assertions: invalid_client


def test_behind_one_proxy_the_address_it_saw_is_the_key(client, settings):
    # given one proxy that appends the address it saw
    settings.CLIENT_IP_PROXY_COUNT = 1
    settings.CLINICAPI_THROTTLE_RATES = {"client": "600/min", "token": "2/min"}

    # when one client forges the left of the header and another client comes through the proxy
    forged = [
        request_token(client, "x.y.z", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, 198.51.100.7") for n in range(3)
    ]
    other = request_token(client, "x.y.z", HTTP_X_FORWARDED_FOR="198.51.100.8")

    # then the forger is limited and the other client is not
    assert [a.status_code for a in forged] == [401, 401, 429]  # unreadable assertions: invalid_client
    assert other.status_code == 401
