"""The provider's discovery document and keys are fetched once per process and reused, not on
every request; a key the process has not seen, or an expired keep, fetches them again."""

import pytest

from homeconsent.consent.models import Consent

from .conftest import AppPageClient
from .test_id_token_refusals import (  # noqa: F401  (rogue: fixture)
    OTHER_KEY,
    SIGNING_KEY,
    claims,
    come_back,
    public_jwk,
    rogue,
    signed,
    start,
)

DISCOVERY = "/.well-known/openid-configuration"


def fetched(rogue, path):
    return sum(1 for method, requested, _ in rogue.server.requests if requested == path)


@pytest.fixture
def keys_served(rogue):
    """The provider's published keys, changeable by the test (key rotation)."""
    served = {"keys": [public_jwk(SIGNING_KEY, "good")]}
    rogue.server.routes["/certs"] = lambda h, b: (200, served)
    return served


def test_two_patients_starting_the_app_route_fetch_the_discovery_document_once(client, entry, rogue):
    start(client, entry)
    start(AppPageClient(), entry)

    assert fetched(rogue, DISCOVERY) == 1


def test_keys_are_fetched_once_and_fetched_again_when_the_provider_rotates(client, entry, rogue, keys_served):
    first = start(client, entry)
    rogue.forge = lambda: signed(claims(rogue, first["nonce"]))
    client.get(come_back(client, first)["Location"])
    assert Consent.objects.count() == 1 and fetched(rogue, "/certs") == 1

    keys_served["keys"].append(public_jwk(OTHER_KEY, "next"))
    other = AppPageClient()
    second = start(other, entry)
    rogue.forge = lambda: signed(claims(rogue, second["nonce"]), key=OTHER_KEY, kid="next")
    answered = come_back(other, second)

    assert answered.status_code == 302, answered.content.decode()[:800]
    assert fetched(rogue, "/certs") == 2 and fetched(rogue, DISCOVERY) == 1


def test_an_expired_keep_fetches_the_discovery_document_again(client, entry, rogue, app_settings):
    app_settings.AUTH_APP_METADATA_TTL = 0
    start(client, entry)
    start(AppPageClient(), entry)

    assert fetched(rogue, DISCOVERY) == 2
