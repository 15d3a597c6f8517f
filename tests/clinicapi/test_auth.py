"""Authentication of the institutions' API: private_key_jwt token requests, bearer tokens, guards.

Client assertions are built with PyJWT (not the server's code) from keys made at run time.
"""

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.http import HttpResponseServerError
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from clinicapi.auth import do_issue_access_token, do_register_client, do_revoke_client
from clinicapi.middleware import ApiGuardMiddleware
from clinicapi.models import AccessToken, ApiClient, UsedAssertion
from clinicapi.views import ApiView
from homeconsent.audit.services import events_for_institution
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Institution

pytestmark = pytest.mark.django_db

TOKEN_PATH = "/api/v1/auth/token"
TOKEN_URL = "http://testserver" + TOKEN_PATH
WHOAMI = "/api/v1/whoami"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# --- keys and clients ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys():
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "stranger": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def pyjwt_jwk(private_key, kid):
    algorithm = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(private_key, rsa.RSAPrivateKey)
        else jwt.algorithms.ECAlgorithm
    )
    return {**algorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": kid}


@pytest.fixture(autouse=True)
def fresh_rate_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def institution():
    return Institution.objects.create(code="0110113719", name="札幌在宅クリニック")


@pytest.fixture
def api_client(institution, keys):
    jwks = {
        "keys": [
            pyjwt_jwk(keys["rsa"], "rsa-1"),
            pyjwt_jwk(keys["p384"], "ec-384"),
            pyjwt_jwk(keys["p256"], "ec-256"),
        ]
    }
    return do_register_client(
        institution, "電子カルテ本番", jwks, ["qualification.read", "consent.read", "medication.read"]
    )


KIDS = {"rsa": "rsa-1", "p384": "ec-384", "p256": "ec-256"}


def assertion(api_client, keys, key="rsa", alg="RS384", kid=None, headers=None, **claims):
    now = int(time.time())
    body = {
        "iss": api_client.client_id,
        "sub": api_client.client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    header = {"kid": kid or KIDS.get(key, "rsa-1"), **(headers or {})}
    return jwt.encode(body, keys[key], algorithm=alg, headers=header)


def request_token(client, client_assertion, scope="qualification.read", **params):
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
    }
    if scope is not None:
        form["scope"] = scope
    form.update(params)
    return client.post(TOKEN_PATH, data=urlencode(form), content_type="application/x-www-form-urlencoded")


def whoami(client, token):
    return client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {token}")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- good assertions -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key,alg", [("rsa", "RS384"), ("p384", "ES384"), ("p256", "ES256"), ("rsa", "RS256"), ("rsa", "PS384")]
)
def test_a_good_assertion_gets_a_token_that_works_on_whoami(client, api_client, keys, key, alg):
    # given a registered client signing with one of its keys
    signed = assertion(api_client, keys, key=key, alg=alg)

    # when it asks for a token and then calls whoami
    response = request_token(client, signed, scope="qualification.read consent.read")
    me = whoami(client, response.json()["access_token"])

    # then it gets a 5-minute bearer token naming its institution and scopes
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["scope"] == "qualification.read consent.read"
    assert response["Cache-Control"] == "no-store"
    assert me.status_code == 200
    assert me.json()["institution_code"] == "0110113719"
    assert me.json()["client_id"] == api_client.client_id
    assert me.json()["scopes"] == ["consent.read", "qualification.read"]


def test_only_the_hash_of_a_token_is_stored(client, api_client, keys):
    token = request_token(client, assertion(api_client, keys)).json()["access_token"]

    stored = AccessToken.objects.get(client=api_client)

    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(list(AccessToken.objects.values()), default=str)


def test_an_assertion_expired_within_the_leeway_is_still_accepted(client, api_client, keys):
    signed = assertion(api_client, keys, exp=int(time.time()) - 30, iat=int(time.time()) - 200)

    assert request_token(client, signed).status_code == 200


def test_aud_may_be_a_list_holding_the_token_url(client, api_client, keys):
    signed = assertion(api_client, keys, aud=[TOKEN_URL])

    assert request_token(client, signed).status_code == 200


# --- refused assertions ----------------------------------------------------------------------
def hs256_with_public_key(api_client, keys):
    """The classic confusion attack: HMAC keyed with the client's (public) RSA key."""
    pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(
        json.dumps(
            {
                "iss": api_client.client_id,
                "sub": api_client.client_id,
                "aud": TOKEN_URL,
                "exp": now + 240,
                "jti": "x1",
            }
        ).encode()
    )
    signature = b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


REFUSALS = {
    "expired": (
        lambda c, k: assertion(c, k, exp=int(time.time()) - 120, iat=int(time.time()) - 400),
        400,
        "invalid_grant",
        "assertion_expired",
    ),
    "issued in the future": (
        lambda c, k: assertion(c, k, iat=int(time.time()) + 120),
        400,
        "invalid_grant",
        "assertion_from_future",
    ),
    "not yet valid": (
        lambda c, k: assertion(c, k, nbf=int(time.time()) + 120),
        400,
        "invalid_grant",
        "assertion_from_future",
    ),
    "exp beyond 5 minutes": (
        lambda c, k: assertion(c, k, exp=int(time.time()) + 600),
        400,
        "invalid_grant",
        "assertion_lifetime_too_long",
    ),
    "no exp": (lambda c, k: assertion(c, k, exp=None), 400, "invalid_grant", "assertion_claim_missing"),
    "no jti": (lambda c, k: assertion(c, k, jti=None), 400, "invalid_grant", "assertion_claim_missing"),
    "wrong audience": (
        lambda c, k: assertion(c, k, aud="https://other.example/api/v1/auth/token"),
        400,
        "invalid_grant",
        "assertion_audience_wrong",
    ),
    "audience with a trailing slash": (
        lambda c, k: assertion(c, k, aud=TOKEN_URL + "/"),
        400,
        "invalid_grant",
        "assertion_audience_wrong",
    ),
    "iss differs from sub": (
        lambda c, k: assertion(c, k, sub="someone-else"),
        401,
        "invalid_client",
        "assertion_issuer_subject_mismatch",
    ),
    "unknown client": (
        lambda c, k: assertion(c, k, iss="no-such-client", sub="no-such-client"),
        401,
        "invalid_client",
        "client_key_unknown",
    ),
    "exp beyond any date": (
        lambda c, k: assertion(c, k, exp=10**400),
        400,
        "invalid_grant",
        "assertion_claim_missing",
    ),
    "iat beyond 2**53": (
        lambda c, k: assertion(c, k, iat=2**53 + 1),
        400,
        "invalid_grant",
        "assertion_claim_missing",
    ),
    "unknown kid": (
        lambda c, k: assertion(c, k, kid="retired-key"),
        401,
        "invalid_client",
        "client_key_unknown",
    ),
    "no kid": (
        lambda c, k: jwt.encode(
            {
                "iss": c.client_id,
                "sub": c.client_id,
                "aud": TOKEN_URL,
                "exp": int(time.time()) + 60,
                "jti": "j",
            },
            k["rsa"],
            algorithm="RS384",
        ),
        401,
        "invalid_client",
        "assertion_kid_missing",
    ),
    "HS256 keyed with the public key": (
        hs256_with_public_key,
        401,
        "invalid_client",
        "assertion_algorithm_refused",
    ),
    "RS512, not on the allow-list": (
        lambda c, k: assertion(c, k, alg="RS512"),
        401,
        "invalid_client",
        "assertion_algorithm_refused",
    ),
    "alg none": (
        lambda c, k: jwt.encode(
            {
                "iss": c.client_id,
                "sub": c.client_id,
                "aud": TOKEN_URL,
                "exp": int(time.time()) + 60,
                "jti": "n",
            },
            None,
            algorithm="none",
            headers={"kid": "rsa-1"},
        ),
        401,
        "invalid_client",
        "assertion_algorithm_refused",
    ),
    "signed by another key under a registered kid": (
        lambda c, k: assertion(c, k, key="stranger", kid="rsa-1"),
        401,
        "invalid_client",
        "assertion_signature_invalid",
    ),
    "EC algorithm on the RSA key's kid": (
        lambda c, k: assertion(c, k, key="p384", alg="ES384", kid="rsa-1"),
        401,
        "invalid_client",
        "assertion_algorithm_key_mismatch",
    ),
    "ES256 under the P-384 key's kid": (
        lambda c, k: assertion(c, k, key="p256", alg="ES256", kid="ec-384"),
        401,
        "invalid_client",
        "assertion_algorithm_key_mismatch",
    ),
    "not a JWT": (lambda c, k: "not-a-jwt", 401, "invalid_client", "assertion_malformed"),  # RFC 7523 §3.2
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_assertion_is_refused_with_an_oauth_error(client, api_client, keys, case):
    make, status, error, code = REFUSALS[case]

    response = request_token(client, make(api_client, keys))

    assert response.status_code == status
    body = response.json()
    assert (body["error"], body["code"]) == (error, code)
    assert body["error_description"] == body["message_en"] and body["error_description"].isascii()
    assert not body["message"].isascii()  # the Japanese message
    assert response["Cache-Control"] == "no-store"
    assert not AccessToken.objects.exists()


def test_a_jti_is_accepted_once(client, api_client, keys):
    signed = assertion(api_client, keys)

    first = request_token(client, signed)
    second = request_token(client, signed)

    assert first.status_code == 200
    assert second.status_code == 400
    assert (second.json()["error"], second.json()["code"]) == ("invalid_grant", "assertion_replayed")
    assert UsedAssertion.objects.filter(client=api_client).count() == 1


def test_the_same_jti_from_two_clients_is_two_assertions(client, api_client, institution, keys):
    other = do_register_client(
        institution, "予備系", {"keys": [pyjwt_jwk(keys["p256"], "ec-256")]}, ["qualification.read"]
    )

    first = request_token(client, assertion(api_client, keys, jti="shared"))
    second = request_token(client, assertion(other, keys, key="p256", alg="ES256", jti="shared"))

    assert (first.status_code, second.status_code) == (200, 200)


def test_a_revoked_client_gets_no_token(client, api_client, keys):
    do_revoke_client(api_client)

    response = request_token(client, assertion(api_client, keys))

    assert response.status_code == 401
    assert (response.json()["error"], response.json()["code"]) == ("invalid_client", "client_revoked")


@pytest.mark.parametrize(
    "scope,code",
    [
        ("batch.write", "scope_not_allowed"),
        ("qualification.read batch.write", "scope_not_allowed"),
        ("system/Coverage.read", "scope_unknown"),
        (None, "scope_missing"),
        ("", "scope_missing"),
    ],
)
def test_a_scope_outside_the_clients_allowance_is_invalid_scope(client, api_client, keys, scope, code):
    response = request_token(client, assertion(api_client, keys), scope=scope)

    assert response.status_code == 400
    assert (response.json()["error"], response.json()["code"]) == ("invalid_scope", code)


@pytest.mark.parametrize(
    "params,error,code",
    [
        ({"grant_type": "authorization_code"}, "unsupported_grant_type", "grant_type_unsupported"),
        (
            {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
            "invalid_request",
            "assertion_type_unsupported",
        ),
        ({"client_id": "someone-else"}, "invalid_request", "client_id_mismatch"),
    ],
)
def test_a_malformed_token_request_is_refused(client, api_client, keys, params, error, code):
    response = request_token(client, assertion(api_client, keys), **params)

    assert response.status_code == 400
    assert (response.json()["error"], response.json()["code"]) == (error, code)


def test_a_token_request_must_be_form_encoded_with_each_parameter_once(client, api_client, keys):
    signed = assertion(api_client, keys)
    as_json = client.post(
        TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
        content_type="application/json",
    )
    repeated = client.post(
        TOKEN_PATH,
        data=urlencode(
            [
                ("grant_type", "client_credentials"),
                ("scope", "qualification.read"),
                ("scope", "consent.read"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", signed),
            ]
        ),
        content_type="application/x-www-form-urlencoded",
    )

    assert (as_json.status_code, as_json.json()["code"]) == (400, "token_request_not_form")
    assert (repeated.status_code, repeated.json()["code"]) == (400, "token_request_parameter_repeated")


def test_the_audience_is_the_configured_token_url_when_set(client, api_client, keys, settings):
    settings.CLINICAPI_TOKEN_URL = "https://homeconsent.example/api/v1/auth/token"

    as_request_url = request_token(client, assertion(api_client, keys))
    as_configured = request_token(client, assertion(api_client, keys, aud=settings.CLINICAPI_TOKEN_URL))

    assert as_request_url.json()["code"] == "assertion_audience_wrong"
    assert as_configured.status_code == 200


# --- bearer tokens ---------------------------------------------------------------------------
def test_whoami_without_a_token_is_401_with_a_bearer_challenge(client):
    response = client.get(WHOAMI)

    assert response.status_code == 401
    assert response.json()["code"] == "token_missing"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_refused(client, api_client):
    response = whoami(client, "not-a-token-we-issued")

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_token_expires(client, api_client):
    # given two tokens issued just under and just over five minutes ago
    now = timezone.now()
    fresh, _ = do_issue_access_token(api_client, ["qualification.read"], now=now - timedelta(seconds=290))
    stale, _ = do_issue_access_token(api_client, ["qualification.read"], now=now - timedelta(seconds=301))

    # then the younger still works and the older is refused as expired
    assert whoami(client, fresh).status_code == 200
    response = whoami(client, stale)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_a_revoked_clients_token_stops_at_the_next_request(client, api_client, keys):
    token = request_token(client, assertion(api_client, keys)).json()["access_token"]
    assert whoami(client, token).status_code == 200

    do_revoke_client(api_client)

    response = whoami(client, token)
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


def test_a_client_revoked_behind_its_tokens_back_is_still_refused(client, api_client, keys):
    # given a client revoked by a path that left its tokens alone (the admin, a database edit)
    token = request_token(client, assertion(api_client, keys)).json()["access_token"]
    ApiClient.objects.filter(pk=api_client.pk).update(revoked_at=timezone.now())

    response = whoami(client, token)

    assert response.status_code == 401
    assert response.json()["code"] == "client_revoked"


class MedicationProbe(ApiView):
    required_scopes = ("medication.read",)

    def get(self, request):
        return Response({"ok": True})


def test_an_endpoint_refuses_a_token_without_its_scope(api_client):
    # given one token with and one without medication.read, on an endpoint that needs it
    without, _ = do_issue_access_token(api_client, ["qualification.read"])
    with_scope, _ = do_issue_access_token(api_client, ["medication.read"])
    factory = APIRequestFactory()
    view = MedicationProbe.as_view()

    refused = view(factory.get("/api/v1/probe", HTTP_AUTHORIZATION=f"Bearer {without}"))
    allowed = view(factory.get("/api/v1/probe", HTTP_AUTHORIZATION=f"Bearer {with_scope}"))

    assert refused.status_code == 403
    assert refused.data["code"] == "scope_insufficient"
    assert 'error="insufficient_scope"' in refused["WWW-Authenticate"]
    assert allowed.status_code == 200


# --- guards of /api/ -------------------------------------------------------------------------
def test_each_client_is_throttled_on_its_own(client, api_client, institution, keys, settings):
    settings.CLINICAPI_THROTTLE_RATES = {"client": "2/min", "token": "60/min"}
    other = do_register_client(
        institution, "予備系", {"keys": [pyjwt_jwk(keys["p256"], "ec-256")]}, ["qualification.read"]
    )
    token = request_token(client, assertion(api_client, keys)).json()["access_token"]
    other_token = request_token(client, assertion(other, keys, key="p256", alg="ES256")).json()[
        "access_token"
    ]

    answers = [whoami(client, token) for _ in range(3)]
    others = whoami(client, other_token)

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "rate_limited"
    assert not answers[2].json()["message"].isascii()
    assert int(answers[2]["Retry-After"]) > 0
    assert others.status_code == 200


def test_the_token_url_is_throttled_per_address(client, settings):
    settings.CLINICAPI_THROTTLE_RATES = {"client": "600/min", "token": "2/min"}

    answers = [request_token(client, "x.y.z") for _ in range(3)]

    # an unreadable assertion is invalid_client (401, RFC 7523 §3.2) until the limit
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[2].json()["code"] == "rate_limited"


def test_an_oversized_body_answers_413_in_json(client, settings):
    settings.CLINICAPI_MAX_BODY_BYTES = 1024

    response = client.post(
        TOKEN_PATH, data="a=" + "x" * 2000, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "request_too_large"


def test_a_chunked_body_without_length_answers_411_in_json(client):
    # given a body whose size cannot be checked before reading it
    response = client.generic(
        "POST",
        TOKEN_PATH,
        data=b"a=" + b"x" * 2000,
        content_type="application/x-www-form-urlencoded",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )

    assert response.status_code == 411
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "length_required"


def test_unknown_api_urls_and_methods_answer_in_json(client):
    missing = client.get("/api/v1/no-such-thing")
    wrong_method = client.get(TOKEN_PATH)

    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")


# --- registering clients ---------------------------------------------------------------------
def test_registration_refuses_private_key_members(institution, keys):
    private_jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(keys["rsa"], as_dict=True), "kid": "oops"}

    with pytest.raises(HomeConsentError) as refused:
        do_register_client(institution, "EHR", {"keys": [private_jwk]}, ["qualification.read"])

    assert refused.value.code == "jwks_private_key"
    assert not ApiClient.objects.exists()


def test_registration_refuses_a_private_pem_and_a_small_rsa_key(institution, keys):
    private_pem = keys["p256"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)

    with pytest.raises(HomeConsentError) as pem_refused:
        do_register_client(institution, "EHR", private_pem, ["qualification.read"])
    with pytest.raises(HomeConsentError) as small_refused:
        do_register_client(institution, "EHR", {"keys": [pyjwt_jwk(small, "small")]}, ["qualification.read"])

    assert pem_refused.value.code == "jwks_private_key"
    assert small_refused.value.code == "jwks_key_unsupported"


def test_a_qualification_only_institution_gets_no_medical_scope(keys):
    site = Institution.objects.create(code="0110113719", name="健診センター", qualification_only=True)

    with pytest.raises(HomeConsentError) as refused:
        do_register_client(
            site,
            "健診システム",
            {"keys": [pyjwt_jwk(keys["p256"], "k")]},
            ["qualification.read", "medication.read"],
        )

    assert refused.value.code == "scope_medical_for_qualification_only"


def test_the_command_registers_a_pem_key_whose_thumbprint_kid_signs_assertions(
    client, institution, keys, tmp_path, capsys
):
    # given an institution's public key as PEM
    pem = tmp_path / "ehr.pub.pem"
    pem.write_bytes(
        keys["p384"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    # when the operator registers it
    call_command(
        "register_api_client",
        "--institution",
        institution.code,
        "--name",
        "EHR",
        "--public-key",
        str(pem),
        "--scope",
        "qualification.read consent.read",
        "--scope",
        "batch.write",
    )
    client_id = capsys.readouterr().out.strip()

    # then the printed client id, with the key's thumbprint as kid, gets a token
    registered = ApiClient.objects.get(client_id=client_id)
    assert registered.scopes == ["qualification.read", "consent.read", "batch.write"]
    kid = registered.jwks["keys"][0]["kid"]
    response = request_token(
        client, assertion(registered, keys, key="p384", alg="ES384", kid=kid), scope="batch.write"
    )
    assert response.status_code == 200, response.json()


def test_the_command_refuses_an_unknown_institution(tmp_path, keys):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [pyjwt_jwk(keys["p256"], "k")]}))

    with pytest.raises(CommandError):
        call_command(
            "register_api_client", "--institution", "0110113719", "--name", "EHR", "--jwks", str(jwks)
        )


def test_registering_and_revoking_a_client_are_in_the_access_log(api_client, capsys):
    call_command("revoke_api_client", api_client.client_id)

    events = list(events_for_institution("0110113719").order_by("seq"))

    assert [e.detail["action"] for e in events] == ["api_client_registered", "api_client_revoked"]
    assert {e.detail["client_id"] for e in events} == {api_client.client_id}
    assert events[1].actor_id == "manage.py revoke_api_client"
    assert "revoked" in capsys.readouterr().out


def test_spent_assertions_are_forgotten_once_they_could_not_be_accepted_anyway(client, api_client, keys):
    # given an assertion id whose assertion expired (plus leeway) a moment ago
    UsedAssertion.objects.create(
        client=api_client, jti="old", expires_at=timezone.now() - timedelta(seconds=1)
    )

    # when the client gets a token with a fresh assertion
    request_token(client, assertion(api_client, keys, jti="new"))

    # then only the fresh jti is kept
    assert list(UsedAssertion.objects.values_list("jti", flat=True)) == ["new"]


def test_a_server_error_under_api_answers_in_json_and_other_paths_are_left_alone(rf):
    guard = ApiGuardMiddleware(lambda request: HttpResponseServerError("<h1>Server Error</h1>"))

    api = guard(rf.get("/api/v1/whoami"))
    telehealth_api = guard(rf.post("/consent/api/v1/sessions"))
    page = guard(rf.get("/portal/"))

    assert api.status_code == 500 and json.loads(api.content)["code"] == "server_error"
    assert telehealth_api.status_code == 500 and json.loads(telehealth_api.content)["code"] == "server_error"
    assert page.content == b"<h1>Server Error</h1>"


def test_client_ids_are_one_command_line_argument_whatever_they_draw():
    # Given many freshly drawn client ids
    from clinicapi.models import new_client_id

    ids = [new_client_id() for _ in range(3000)]
    # Then none could be taken for an option, and each is URL- and shell-safe
    assert all(re.fullmatch(r"[a-z2-7]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
