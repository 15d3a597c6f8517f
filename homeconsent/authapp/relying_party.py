"""The relying party of the authentication app (OpenID Connect), on authlib's Django client.

begin(): an authorization request with response_type=code, PKCE S256, a fresh state, and the nonce
the proof step derived from its single-use challenge; what the callback needs is kept in the browser
session under the state. finish(): the callback's state, the code exchanged at the token endpoint
with private_key_jwt (ES256, the service's key), the ID token verified against the provider's JWKS
(settings.AUTH_APP_ID_TOKEN_ALGORITHMS only; iss, aud, exp, iat, nonce, at_hash when present), and
userinfo for the four attributes. Every refusal has its own code and is said in ja and en.

JOSE is joserfc's (authlib's JOSE layer); nothing here parses or signs a token by hand.
"""

import threading
import time
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import OAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oidc.core import CodeIDToken
from django.conf import settings
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

from homeconsent.errors import ErrorCode, HomeConsentError

from .keys import client_key

SESSION_PREFIX = "authapp.pending."
SCOPES = "openid name address birthdate gender"
# Clock skew allowed on exp/iat, seconds.
LEEWAY = 60
HTTP_TIMEOUT = 10

_WAY_OUT = "カードリーダーで確認するか、最初からやり直してください。"
_WAY_OUT_EN = "Use a card reader instead, or start again."


def _code(code, ja, en):
    return ErrorCode(code, f"{ja}{_WAY_OUT}", f"{en} {_WAY_OUT_EN}")


APP_NOT_CONFIGURED = _code(
    "app_not_configured",
    "認証アプリでの確認は、このサービスでは使えません。",
    "The authentication app is not available on this service.",
)
APP_PROVIDER_UNREACHABLE = _code(
    "app_provider_unreachable",
    "認証アプリの事業者に接続できませんでした。",
    "The authentication app's provider could not be reached.",
)
APP_STATE_MISMATCH = _code(
    "app_state_mismatch",
    "認証アプリからの戻りが、この画面で始めた確認と一致しません。",
    "The return from the authentication app does not belong to the confirmation started on this screen.",
)
APP_NONCE_MISMATCH = _code(
    "app_nonce_mismatch",
    "認証アプリの結果が、この確認のためのものではありません。",
    "The result from the authentication app was not made for this confirmation.",
)
APP_CODE_REPLAYED = _code(
    "app_code_replayed",
    "認証アプリの確認結果はすでに使われたか、この確認のものではありません。",
    "The result from the authentication app was already used, or is not for this confirmation.",
)
APP_TOKEN_EXPIRED = _code(
    "app_token_expired",
    "認証アプリの確認結果の有効時間が過ぎています。",
    "The result from the authentication app has expired.",
)
APP_TOKEN_AUDIENCE = _code(
    "app_token_audience",
    "認証アプリの確認結果は、別のサービスあてのものです。",
    "The result from the authentication app was made for another service.",
)
APP_TOKEN_ISSUER = _code(
    "app_token_issuer",
    "認証アプリの確認結果の発行元が、登録された事業者ではありません。",
    "The result from the authentication app was not issued by the registered provider.",
)
APP_TOKEN_ALG_NONE = _code(
    "app_token_alg_none",
    "認証アプリの確認結果に署名がありません。",
    "The result from the authentication app is not signed.",
)
APP_TOKEN_ALG_NOT_ALLOWED = _code(
    "app_token_alg_not_allowed",
    "認証アプリの確認結果の署名方式は受け付けていません。",
    "The result from the authentication app is signed in a way we do not accept.",
)
APP_TOKEN_UNKNOWN_KEY = _code(
    "app_token_unknown_kid",
    "認証アプリの確認結果は、事業者の公開鍵にない鍵で署名されています。",
    "The result from the authentication app is signed with a key the provider does not publish.",
)
APP_TOKEN_SIGNATURE = _code(
    "app_token_signature",
    "認証アプリの確認結果の署名が正しくありません。",
    "The signature on the result from the authentication app is not valid.",
)
APP_TOKEN_INVALID = _code(
    "app_token_invalid",
    "認証アプリの確認結果を確かめられませんでした。",
    "The result from the authentication app could not be verified.",
)
APP_JWKS_UNREACHABLE = _code(
    "app_jwks_unreachable",
    "認証アプリの事業者の公開鍵を取得できないため、結果を確かめられません。",
    "The provider's public keys could not be fetched, so the result cannot be verified.",
)
APP_CANCELLED = _code(
    "app_cancelled",
    "認証アプリで確認が中止されました。",
    "The confirmation was stopped in the authentication app.",
)
APP_CARD_LOCKED = ErrorCode(
    "app_card_locked",
    "暗証番号を3回間違えたため、カードがロックされました。お住まいの市区町村の窓口でロックを解除できます。今日は医療機関等の窓口で、保険証や資格確認書などでご相談ください。",
    "The PIN was entered wrongly three times, so the card is locked. Your municipality's office can "
    "unlock it. For today, ask the institution: they can check your insurance another way.",
)

_CLAIM_CODES = {
    "iss": APP_TOKEN_ISSUER,
    "aud": APP_TOKEN_AUDIENCE,
    "nonce": APP_NONCE_MISMATCH,
    "azp": APP_TOKEN_AUDIENCE,
}


class AppRefusal(Exception):
    """A refusal on the app route: its ErrorCode, and where the page the patient came from is."""

    def __init__(self, error_code, back_url: str = "", **params):
        self.error = error_code if isinstance(error_code, HomeConsentError) else error_code(**params)
        super().__init__(self.error.code)
        self.back_url = back_url


@dataclass(frozen=True)
class AppResult:
    """What the app proved, with the evidence: the ID token (compact JWS) and the JWK that signed it."""

    issuer: str
    subject: str
    id_token: str
    provider_key: dict
    userinfo: dict
    nonce: str


def enabled() -> bool:
    return bool(settings.AUTH_APP_ISSUER)


class _ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """private_key_jwt with ES256, the key's kid and a one-minute assertion (a fresh jti each time)."""

    alg = "ES256"

    def sign(self, auth, token_endpoint):
        key = client_key()
        return private_key_jwt_sign(
            key,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            header={"kid": key.kid},
            expires_in=60,
        )


_clients: dict = {}
_clients_lock = threading.Lock()


def _client():
    """One authlib client per provider configuration, kept by the process: its discovery document
    and JWKS are fetched once and reused until AUTH_APP_METADATA_TTL has passed (an unknown kid
    refetches the JWKS at once, see verify_id_token), instead of two extra round trips per request."""
    key = (settings.AUTH_APP_ISSUER, settings.AUTH_APP_CLIENT_ID)
    with _clients_lock:
        client = _clients.get(key)
        loaded_at = client.server_metadata.get("_loaded_at") if client is not None else None
        if client is None or (loaded_at and time.time() - loaded_at > settings.AUTH_APP_METADATA_TTL):
            client = _clients[key] = _new_client()
        return client


def forget_providers() -> None:
    """Drop every kept client (their metadata and keys): the next request fetches them again."""
    with _clients_lock:
        _clients.clear()


def _new_client():
    oauth = OAuth()
    return oauth.register(
        name="authapp",
        client_id=settings.AUTH_APP_CLIENT_ID,
        server_metadata_url=settings.AUTH_APP_ISSUER.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPES,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "private_key_jwt",
            "timeout": HTTP_TIMEOUT,
        },
        client_auth_methods=[_ShortLivedPrivateKeyJWT()],
    )


def redirect_uri(request) -> str:
    from django.urls import reverse

    return settings.AUTH_APP_REDIRECT_URI or request.build_absolute_uri(reverse("consent:app_callback"))


def begin(request, *, nonce: str, slot: str, next_url: str, back_url: str) -> str:
    """The provider's authorization URL for this proof; what the callback needs stays in the session."""
    if not enabled():
        raise AppRefusal(APP_NOT_CONFIGURED, back_url)
    client = _client()
    callback = redirect_uri(request)
    try:
        made = client.create_authorization_url(callback, nonce=nonce)
    except (requests.RequestException, ValueError, KeyError):
        raise AppRefusal(APP_PROVIDER_UNREACHABLE, back_url) from None
    request.session[SESSION_PREFIX + made["state"]] = {
        "slot": slot,
        "verifier": made["code_verifier"],
        "nonce": nonce,
        "next": next_url,
        "back": back_url,
        "redirect_uri": callback,
        "at": int(time.time()),
    }
    return made["url"]


def pending_for(request):
    """The pending attempt the callback's state names, taken from the session (used once); else a refusal."""
    # The OIDC callback's parameters (state, code, error, error_description) stay plain reads: the
    # provider, not a person, writes them, and the session's state and the token endpoint check them.
    state = request.GET.get("state", "")
    pending = request.session.pop(SESSION_PREFIX + state, None) if state else None
    if pending is None:
        raise AppRefusal(APP_STATE_MISMATCH)
    return pending


def finish(request, pending) -> AppResult:
    """Verify the callback for `pending` (see pending_for): code, ID token, userinfo. AppRefusal else."""
    back = pending["back"]
    error = request.GET.get("error")
    if error:
        if error == "access_denied" and request.GET.get("error_description") == "card_locked":
            raise AppRefusal(APP_CARD_LOCKED, back)
        raise AppRefusal(APP_CANCELLED, back)
    code = request.GET.get("code", "")
    client = _client()
    try:
        token = client.fetch_access_token(
            redirect_uri=pending["redirect_uri"], code=code, code_verifier=pending["verifier"]
        )
    except OAuthError as refused:
        if refused.error == "invalid_grant":
            raise AppRefusal(APP_CODE_REPLAYED, back) from None
        raise AppRefusal(APP_PROVIDER_UNREACHABLE, back) from None
    except (requests.RequestException, ValueError, KeyError):
        raise AppRefusal(APP_PROVIDER_UNREACHABLE, back) from None
    id_token = token.get("id_token")
    if not id_token:
        raise AppRefusal(APP_TOKEN_INVALID, back)
    claims, key = verify_id_token(
        client, id_token, nonce=pending["nonce"], access_token=token.get("access_token"), back=back
    )
    try:
        userinfo = dict(client.userinfo(token=token))
    except (requests.RequestException, ValueError, OAuthError):
        raise AppRefusal(APP_PROVIDER_UNREACHABLE, back) from None
    if userinfo.get("sub") != claims["sub"]:
        raise AppRefusal(APP_TOKEN_INVALID, back)
    return AppResult(claims["iss"], claims["sub"], id_token, key, userinfo, pending["nonce"])


def _fetch_jwks(client, back, force=False) -> KeySet:
    try:
        return KeySet.import_key_set(client.fetch_jwk_set(force=force))
    except (requests.RequestException, ValueError, RuntimeError, JoseError, KeyError):
        raise AppRefusal(APP_JWKS_UNREACHABLE, back) from None


def verify_id_token(client, id_token: str, *, nonce: str, access_token=None, back=""):
    """The ID token's claims and the public JWK that signed it, or an AppRefusal with the exact reason."""
    metadata = client.load_server_metadata()
    try:
        header = jws.extract_compact(id_token.encode()).headers()
    except JoseError:
        raise AppRefusal(APP_TOKEN_INVALID, back) from None
    alg = header.get("alg")
    if not alg or str(alg).lower() == "none":
        raise AppRefusal(APP_TOKEN_ALG_NONE, back)
    allowed = list(settings.AUTH_APP_ID_TOKEN_ALGORITHMS)
    if alg not in allowed:
        raise AppRefusal(APP_TOKEN_ALG_NOT_ALLOWED, back)
    keys = _fetch_jwks(client, back)
    if header.get("kid") is None or not any(k.kid == header["kid"] for k in keys.keys):
        keys = _fetch_jwks(client, back, force=True)  # the provider may have rotated its key
        if header.get("kid") is None or not any(k.kid == header["kid"] for k in keys.keys):
            raise AppRefusal(APP_TOKEN_UNKNOWN_KEY, back)
    try:
        decoded = jwt.decode(id_token, keys, algorithms=allowed)
    except InvalidKeyIdError:
        raise AppRefusal(APP_TOKEN_UNKNOWN_KEY, back) from None
    except (BadSignatureError, UnsupportedAlgorithmError):
        raise AppRefusal(APP_TOKEN_SIGNATURE, back) from None
    except JoseError:
        raise AppRefusal(APP_TOKEN_INVALID, back) from None
    options = {
        "iss": {"essential": True, "values": [metadata["issuer"]]},
        "aud": {"essential": True, "values": [settings.AUTH_APP_CLIENT_ID]},
    }
    params = {"nonce": nonce, "client_id": settings.AUTH_APP_CLIENT_ID}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(decoded.claims, decoded.header, options, params)
    try:
        claims.validate(leeway=LEEWAY)
    except ExpiredTokenError:
        raise AppRefusal(APP_TOKEN_EXPIRED, back) from None
    except (InvalidClaimError, MissingClaimError) as error:
        raise AppRefusal(_CLAIM_CODES.get(error.claim, APP_TOKEN_INVALID), back) from None
    except JoseError:
        raise AppRefusal(APP_TOKEN_INVALID, back) from None
    if claims["iss"] != settings.AUTH_APP_ISSUER:
        raise AppRefusal(APP_TOKEN_ISSUER, back)
    key = next(k for k in keys.keys if k.kid == header["kid"])
    return dict(claims), key.as_dict(private=False)


def verify_stored(id_token: str, provider_key: dict, *, issuer: str, audience: str) -> dict:
    """Re-verify stored evidence offline: the signature with the stored key, iss and aud (not exp: it
    was checked when the token was used; now it only has to show who signed what). Raises JoseError."""
    from joserfc.jwk import import_key

    key = import_key(provider_key)
    decoded = jwt.decode(id_token, key, algorithms=list(settings.AUTH_APP_ID_TOKEN_ALGORITHMS))
    audiences = decoded.claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if decoded.claims.get("iss") != issuer:
        raise InvalidClaimError("iss")
    if audience not in audiences:
        raise InvalidClaimError("aud")
    return decoded.claims
