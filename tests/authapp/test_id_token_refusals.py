"""Every refusal of an ID token, produced for real: a rogue provider on 127.0.0.1 whose tokens are
built with PyJWT (a JWT library the service does not use). None stores a consent, a link or a session."""

import json
import time
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, HMACAlgorithm
from jwt.utils import base64url_encode

from homeconsent.authapp.models import IdentityLink
from homeconsent.consent.models import Consent
from homeconsent.registry.models import Person

from .conftest import ADDRESS, AppPageClient, JsonServer, url, walk_to_card

SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
ACCESS_TOKEN = "rogue-access-token"


def public_jwk(key, kid):
    return {**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "ES256", "use": "sig"}


class Rogue:
    """A provider answering whatever ID token the test forges; it shares the honest shape otherwise."""

    def __init__(self):
        self.forge = None
        self.jwks_status = 200
        self.userinfo = {}
        self.server = JsonServer(
            {
                "/.well-known/openid-configuration": lambda h, b: (200, self.discovery()),
                "/token": lambda h, b: (
                    200,
                    {
                        "access_token": ACCESS_TOKEN,
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "scope": "openid name address birthdate gender",
                        "id_token": self.forge(),
                    },
                ),
                "/certs": lambda h, b: (self.jwks_status, {"keys": [public_jwk(SIGNING_KEY, "good")]}),
                "/userinfo": lambda h, b: (200, self.userinfo),
            }
        )
        self.issuer = self.server.url

    def discovery(self):
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/auth",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "jwks_uri": self.issuer + "/certs",
            "id_token_signing_alg_values_supported": ["ES256", "HS256", "none"],
        }


@pytest.fixture
def rogue(app_settings, person):
    person.address = ADDRESS
    person.save(update_fields=["address"])
    provider = Rogue()
    provider.userinfo = {
        "sub": "pairwise-1",
        "name": person.name,
        "birthdate": person.birth_date.isoformat(),
        "gender": "female",
        "address": {"formatted": "東京都千代田区霞が関１－２－３"},
    }
    app_settings.AUTH_APP_ISSUER = provider.issuer
    yield provider
    provider.server.close()


def start(client, entry):
    walk_to_card(client, entry)
    response = client.post(url("app_start", entry, "home"))
    assert response.status_code == 302, response.content.decode()[:1000]
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response["Location"]).query))


def claims(rogue, nonce, **changes):
    now = int(time.time())
    base = {
        "iss": rogue.issuer,
        "sub": "pairwise-1",
        "aud": "homeconsent",
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(payload, key=SIGNING_KEY, kid="good", algorithm="ES256"):
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def hs256_with_public_key(payload):
    pem = SIGNING_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    head = base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "good"}).encode())
    body = base64url_encode(json.dumps(payload).encode())
    signature = HMACAlgorithm(HMACAlgorithm.SHA256).sign(head + b"." + body, pem)
    return (head + b"." + body + b"." + base64url_encode(signature)).decode()


def come_back(client, request):
    return client.get(f"/consent/app/callback?code=rogue-code&state={request['state']}")


def refused_with(response, code):
    html = response.content.decode()
    assert response.status_code == 403 and f'data-problem="{code}"' in html, html[:1500]
    assert not Consent.objects.exists() and not IdentityLink.objects.exists()
    return True


def test_an_honest_token_from_the_same_provider_registers_the_consent(client, entry, rogue):
    request = start(client, entry)
    rogue.forge = lambda: signed(claims(rogue, request["nonce"]))

    done = come_back(client, request)
    registered = client.get(done["Location"])

    assert registered.status_code == 302 and Consent.objects.get().authenticator == "app"
    assert IdentityLink.objects.get().subject == "pairwise-1"


FORGERIES = {
    "app_token_expired": lambda rogue, nonce: signed(
        claims(rogue, nonce, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "app_token_audience": lambda rogue, nonce: signed(claims(rogue, nonce, aud="another-service")),
    "app_token_issuer": lambda rogue, nonce: signed(
        claims(rogue, nonce, iss="https://issuer.invalid/realms/x")
    ),
    "app_token_alg_none": lambda rogue, nonce: jwt.encode(claims(rogue, nonce), None, algorithm="none"),
    # The classic confusion: HMAC keyed with the provider's public key (PEM). PyJWT's encode refuses
    # such a key, so the token is put together from PyJWT's own parts.
    "app_token_alg_not_allowed": lambda rogue, nonce: hs256_with_public_key(claims(rogue, nonce)),
    "app_token_unknown_kid": lambda rogue, nonce: signed(
        claims(rogue, nonce), key=OTHER_KEY, kid="not-published"
    ),
    "app_token_signature": lambda rogue, nonce: signed(claims(rogue, nonce), key=OTHER_KEY, kid="good"),
}


@pytest.mark.parametrize("code", sorted(FORGERIES))
def test_a_forged_id_token_is_refused_with_its_own_code(client, entry, rogue, code):
    request = start(client, entry)
    rogue.forge = lambda: FORGERIES[code](rogue, request["nonce"])

    assert refused_with(come_back(client, request), code)


def test_an_id_token_for_another_sessions_nonce_is_refused(client, entry, rogue):
    other = start(AppPageClient(), entry)
    request = start(client, entry)
    rogue.forge = lambda: signed(claims(rogue, other["nonce"]))

    assert refused_with(come_back(client, request), "app_nonce_mismatch")


def test_a_provider_whose_keys_cannot_be_fetched_is_refused(client, entry, rogue):
    request = start(client, entry)
    rogue.forge = lambda: signed(claims(rogue, request["nonce"]))
    rogue.jwks_status = 500

    assert refused_with(come_back(client, request), "app_jwks_unreachable")


def test_no_registry_person_with_these_attributes_is_refused(client, entry, rogue):
    request = start(client, entry)
    rogue.forge = lambda: signed(claims(rogue, request["nonce"]))
    rogue.userinfo = {**rogue.userinfo, "birthdate": "1950-01-01"}

    assert refused_with(come_back(client, request), "app_identity_not_found")


def test_two_registry_persons_with_these_attributes_are_refused(client, entry, rogue, person):
    Person.objects.create(
        name="山田　花子",
        name_kana="ヤマダ ハナコ",
        sex="2",
        birth_date=person.birth_date,
        address="東京都千代田区霞が関一丁目2番地3",
    )
    request = start(client, entry)
    rogue.forge = lambda: signed(claims(rogue, request["nonce"]))

    assert refused_with(come_back(client, request), "app_identity_ambiguous")


def test_a_token_for_one_purpose_cannot_sign_in_to_the_portal(client, entry, rogue):
    # an ID token obtained for a consent, presented to the portal's sign-in attempt
    consent_request = start(client, entry)
    signin = client.post("/portal/card/signin/app")
    signin_request = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(signin["Location"]).query))
    rogue.forge = lambda: signed(claims(rogue, consent_request["nonce"]))

    refused = come_back(client, signin_request)

    assert refused_with(refused, "app_nonce_mismatch")
    assert "portal.person" not in client.session


def test_a_refusal_is_said_in_english_on_an_english_page(client, entry, rogue):
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    request = start(client, entry)
    rogue.forge = lambda: signed(claims(rogue, request["nonce"], aud="another-service"))

    refused = come_back(client, request)

    html = refused.content.decode()
    assert refused_with(refused, "app_token_audience")
    assert "was made for another service" in html and "Use a card reader instead" in html
