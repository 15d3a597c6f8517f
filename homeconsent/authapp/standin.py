"""A stand-in for the Digital Agency's authentication app (an OpenID Connect provider): demo and tests.

Its own HTTP process (manage.py authenticator_provider), never part of the service's URLs. Built on
authlib's server components (AuthorizationServer, AuthorizationCodeGrant, CodeChallenge, OpenIDCode,
JWTBearerClientAssertion); the storage, the client-key lookup and the jti check are ours, in memory.
It enforces what the real provider documents: response_type=code only; scopes openid name address
birthdate gender; state, nonce and code_challenge (S256) required; private_key_jwt client
authentication, each jti once; ES256 ID tokens; discovery, JWKS, token and userinfo endpoints under a
Keycloak-style issuer; a pairwise sub per client; error=access_denied when the user stops.

Its "app" screen is a phone page asking for the 4-digit PIN, which it proves with a virtual card
through the project's JPKI code (reader.JPKICard over card.VirtualJPKICard, then
verification.verify_signed_message): a wrong PIN lowers the card's tries and three lock it, as on
the reader route. A locked card answers error=access_denied, error_description=card_locked.
"""

import hashlib
import html
import json
import os
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import ECKey, KeySet

from homeconsent.errors import HomeConsentError
from homeconsent.jpki.card import VirtualJPKICard
from homeconsent.jpki.reader import PIN_INCORRECT, PIN_LOCKED, JPKICard
from homeconsent.jpki.verification import verify_signed_message

SCOPES = ["openid", "name", "address", "birthdate", "gender"]
REALM_PATH = "/realms/standin"
CODE_SECONDS = 60
TOKEN_SECONDS = 300
ID_TOKEN_SECONDS = 300
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

# authlib checks for https; this provider only ever listens on 127.0.0.1.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")


@dataclass
class Client(ClientMixin):
    client_id: str
    redirect_uris: list
    jwks_uri: str

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return False  # private_key_jwt only

    def check_endpoint_auth_method(self, method, endpoint):
        return method == JWTBearerClientAssertion.CLIENT_AUTH_METHOD

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass(frozen=True)
class Holder:
    """The card holder as the provider knows them (the four basic attributes)."""

    name: str
    birthdate: str
    gender: str  # "male" | "female"
    address: str


@dataclass(frozen=True)
class HolderAtClient:
    holder: Holder
    sub: str  # pairwise: differs per client

    def get_user_id(self):
        return self.sub


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    user: HolderAtClient
    auth_time: int
    expires_at: float

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return ["pin", "hwk"]


class _Request(OAuth2Request):
    def __init__(self, method, uri, headers, query, form):
        super().__init__(method=method, uri=uri, headers=headers)
        self._query = query
        self._form = form
        merged = {**query, **form}
        self.payload = BasicOAuth2Payload(merged)

    @property
    def args(self):
        return self._query

    @property
    def form(self):
        return self._form


@dataclass
class _Response:
    status: int
    body: str
    headers: list = field(default_factory=list)


class StandinProvider(AuthorizationServer):
    """The provider's state and its authlib authorization server (one per process)."""

    def __init__(self, issuer: str, clients: list, card_path: str, holder: Holder):
        super().__init__(scopes_supported=SCOPES)
        self.issuer = issuer
        self.clients = {c.client_id: c for c in clients}
        self.card_path = card_path
        self.holder = holder
        self.key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, private=True)
        self.key.ensure_kid()
        self.pairwise_salt = secrets.token_bytes(32)
        self.lock = threading.Lock()
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, tuple] = {}
        self.seen_jti: set = set()
        self.pending: dict[str, dict] = {}
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda *a, **k: secrets.token_urlsafe(32),
                expires_generator=lambda *a, **k: TOKEN_SECONDS,
            ),
        )
        assertion = _ClientAssertion(self)
        self.register_client_auth_method(JWTBearerClientAssertion.CLIENT_AUTH_METHOD, assertion)
        self.register_grant(_CodeGrant, [CodeChallenge(required=True), _OpenID(self)])

    # --- endpoints ------------------------------------------------------------------------------
    def endpoint(self, name):
        return f"{self.issuer}/protocol/openid-connect/{name}"

    def discovery(self):
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("auth"),
            "token_endpoint": self.endpoint("token"),
            "userinfo_endpoint": self.endpoint("userinfo"),
            "jwks_uri": self.endpoint("certs"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "scopes_supported": SCOPES,
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "name", "address", "birthdate", "gender"],
        }

    def jwks(self):
        return {"keys": [self.key.as_dict(private=False)]}

    def pairwise_sub(self, client_id):
        material = f"{client_id}|{self.holder.name}|{self.holder.birthdate}".encode()
        return hashlib.sha256(self.pairwise_salt + material).hexdigest()

    # --- authlib's framework hooks ---------------------------------------------------------------
    def query_client(self, client_id):
        return self.clients.get(client_id)

    def save_token(self, token, request):
        with self.lock:
            self.tokens[token["access_token"]] = (request.user, token["scope"], time.time() + TOKEN_SECONDS)

    def create_oauth2_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        if isinstance(body, dict):
            body = json.dumps(body)
        return _Response(status, body or "", list(headers or []))

    def send_signal(self, name, *args, **kwargs):
        pass

    # --- the app screen ---------------------------------------------------------------------------
    def prove_pin(self, pin: str):
        """Verify the PIN on the virtual card and have it sign a fresh message, checked by our JPKI code.

        Returns None, or "wrong:<tries>" / "locked" / "card_error"."""
        card = _PhoneCard(VirtualJPKICard.load(self.card_path))
        message = secrets.token_bytes(32)
        digest_info = SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(message).digest()
        secret = bytearray(pin.encode("ascii", "replace"))
        try:
            answer = card.authenticate(digest_info, secret, lambda step: None)
        except HomeConsentError as error:
            if error.code == PIN_INCORRECT.code:
                return f"wrong:{error.params.get('tries_left', 0)}"
            if error.code == PIN_LOCKED.code:
                return "locked"
            return "card_error"
        finally:
            secret[:] = bytes(len(secret))
        try:
            verify_signed_message(message, answer["certificate"], answer["signature"])
        except HomeConsentError:
            return "card_error"
        return None


class _PhoneCard(JPKICard):
    """The reader's JPKI card driver, talking to a virtual card in this process (the phone's NFC)."""

    def __init__(self, card: VirtualJPKICard):
        self.card = card
        self.reader = None

    def transmit(self, cla, ins, p1, p2, data=None, mrl=0):
        apdu = bytes([cla, ins, p1, p2])
        if data:
            apdu += bytes([len(data)]) + bytes(data)
        if mrl:
            apdu += bytes([mrl % 256])
        response = self.card.transmit(apdu)
        return bytes(response[:-2]), int.from_bytes(response[-2:], "big")


class _ClientAssertion(JWTBearerClientAssertion):
    def __init__(self, provider):
        super().__init__(leeway=30)
        self.provider = provider

    def get_audiences(self):
        return [self.provider.endpoint("token"), self.provider.issuer]

    def validate_jti(self, claims, jti):
        key = f"{claims['sub']}|{jti}"
        with self.provider.lock:
            if key in self.provider.seen_jti:
                return False
            self.provider.seen_jti.add(key)
            return True

    def resolve_client_public_key(self, client):
        # The client's registered JWKS, fetched when used (a rotated key is picked up at once).
        response = requests.get(client.jwks_uri, timeout=10)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())


class _CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [JWTBearerClientAssertion.CLIENT_AUTH_METHOD]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        provider = self.server
        with provider.lock:
            provider.codes[code] = AuthCode(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=data.get("redirect_uri", ""),
                scope=request.payload.scope or "",
                nonce=data.get("nonce", ""),
                code_challenge=data.get("code_challenge", ""),
                code_challenge_method=data.get("code_challenge_method", ""),
                user=request.user,
                auth_time=int(time.time()),
                expires_at=time.time() + CODE_SECONDS,
            )

    def query_authorization_code(self, code, client):
        found = self.server.codes.get(code)
        if found and found.client_id == client.client_id and found.expires_at > time.time():
            return found
        return None

    def delete_authorization_code(self, authorization_code):
        with self.server.lock:
            self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class _OpenID(OpenIDCode):
    def __init__(self, provider):
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce, request):
        return False

    def resolve_client_private_key(self, client):
        return self.provider.key

    def get_client_algorithm(self, client):
        return "ES256"

    def get_encode_header(self, client):
        return {"alg": "ES256", "kid": self.provider.key.kid}

    def get_client_claims(self, client):
        now = int(time.time())
        return {
            "iss": self.provider.issuer,
            "aud": [client.get_client_id()],
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
        }

    def generate_user_info(self, user, scope):
        return UserInfo(sub=user.sub)


def user_info(user: HolderAtClient, scope: str) -> dict:
    scopes = scope.split()
    info = {"sub": user.sub}
    if "name" in scopes:
        info["name"] = user.holder.name
    if "address" in scopes:
        info["address"] = {"formatted": user.holder.address}
    if "birthdate" in scopes:
        info["birthdate"] = user.holder.birthdate
    if "gender" in scopes:
        info["gender"] = user.holder.gender
    return info


# --- HTTP ------------------------------------------------------------------------------------------
APP_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>認証アプリ（代替） Authentication app (stand-in)</title>
<style>
body{{font:18px/1.6 system-ui,sans-serif;margin:0;padding:1rem;max-width:32rem}}
h1{{font-size:1.3rem}} .en{{color:#444;font-size:.9rem;display:block}}
input{{font-size:2rem;letter-spacing:.5rem;width:8rem;padding:.4rem;min-height:48px}}
button{{font-size:1.1rem;min-height:48px;min-width:48px;width:100%;margin:.5rem 0;padding:.6rem}}
.error{{color:#a00;font-weight:bold}} .secondary{{background:#eee}}
</style></head><body>
<h1>デジタル認証アプリ（代替）<span class="en" lang="en">Authentication app (stand-in)</span></h1>
<p><strong>{client}</strong> がマイナンバーカードでの本人確認を求めています。
<span class="en" lang="en">{client} asks you to prove who you are with your My Number card.</span></p>
{problem}
<form method="post" autocomplete="off">
<input type="hidden" name="request" value="{request_id}">
<p><label for="pin">4桁の暗証番号（利用者証明用）<span class="en" lang="en">Your 4-digit PIN (user authentication)</span></label></p>
<p><input type="password" id="pin" name="pin" inputmode="numeric" maxlength="4" pattern="[0-9]{{4}}" autocomplete="off" autofocus></p>
<p>カードをスマートフォンにかざしてから「確認」を押してください。<span class="en" lang="en">Hold your card to the phone, then press Confirm.</span></p>
<button type="submit" name="action" value="prove" id="prove">確認 <span lang="en">Confirm</span></button>
<button type="submit" name="action" value="cancel" class="secondary" id="cancel">中止 <span lang="en">Stop</span></button>
</form></body></html>"""


def _redirect_with(uri, **params):
    separator = "&" if "?" in uri else "?"
    return uri + separator + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


class _Handler(BaseHTTPRequestHandler):
    provider: StandinProvider = None  # set per server

    def log_message(self, format, *args):  # the PIN is never in a URL, but keep the log quiet anyway
        pass

    def _send(self, status, body, headers=(), content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        sent = {name.lower() for name, _value in headers}
        for name, value in headers:
            self.send_header(name, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status, document):
        self._send(status, json.dumps(document))

    def _request(self, form=None):
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        uri = f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}"
        return _Request(self.command, uri, dict(self.headers), query, form or {}), parsed.path

    def _form(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 65536)).decode("utf-8", "replace")
        return dict(urllib.parse.parse_qsl(body, keep_blank_values=True))

    def _route(self, path):
        prefix = urllib.parse.urlsplit(self.provider.issuer).path
        return path[len(prefix) :] if path.startswith(prefix) else None

    def do_GET(self):
        request, path = self._request()
        route = self._route(path)
        if route == "/.well-known/openid-configuration":
            return self._json(200, self.provider.discovery())
        if route == "/protocol/openid-connect/certs":
            return self._json(200, self.provider.jwks())
        if route == "/protocol/openid-connect/auth":
            return self._authorize(request)
        if route == "/protocol/openid-connect/userinfo":
            return self._userinfo()
        self._json(404, {"error": "not_found"})

    def do_POST(self):
        form = self._form()
        request, path = self._request(form)
        route = self._route(path)
        if route == "/protocol/openid-connect/token":
            response = self.provider.create_token_response(request)
            return self._send(response.status, response.body, response.headers)
        if route == "/protocol/openid-connect/auth":
            return self._app_answer(form)
        if route == "/protocol/openid-connect/userinfo":
            return self._userinfo()
        self._json(404, {"error": "not_found"})

    def _authorize(self, request):
        query = request.args
        # Required by the real provider beyond what authlib checks: state, openid and known scopes only.
        if not query.get("state"):
            return self._send(400, "state is required", content_type="text/plain; charset=utf-8")
        if "openid" not in (query.get("scope") or "").split():
            return self._send(400, "scope must include openid", content_type="text/plain; charset=utf-8")
        if query.get("code_challenge_method") != "S256":
            return self._send(
                400, "code_challenge_method must be S256", content_type="text/plain; charset=utf-8"
            )
        try:
            self.provider.get_consent_grant(request)
        except OAuth2Error as error:
            return self._send(
                400, f"{error.error}: {error.description or ''}", content_type="text/plain; charset=utf-8"
            )
        request_id = secrets.token_urlsafe(16)
        with self.provider.lock:
            self.provider.pending[request_id] = {"query": dict(query), "uri": request.uri}
        self._app_page(request_id, query["client_id"])

    def _app_page(self, request_id, client_id, problem=""):
        page = APP_PAGE.format(client=html.escape(client_id), request_id=request_id, problem=problem)
        self._send(200, page, content_type="text/html; charset=utf-8")

    def _app_answer(self, form):
        with self.provider.lock:
            pending = self.provider.pending.get(form.get("request", ""))
        if pending is None:
            return self._send(400, "unknown request", content_type="text/plain; charset=utf-8")
        query = pending["query"]
        if form.get("action") == "cancel":
            self.provider.pending.pop(form["request"], None)
            target = _redirect_with(query["redirect_uri"], error="access_denied", state=query.get("state"))
            return self._send(302, "", [("Location", target)])
        outcome = self.provider.prove_pin(form.get("pin", ""))
        if outcome == "locked":
            self.provider.pending.pop(form["request"], None)
            target = _redirect_with(
                query["redirect_uri"],
                error="access_denied",
                error_description="card_locked",
                state=query.get("state"),
            )
            return self._send(302, "", [("Location", target)])
        if outcome is not None:
            tries = outcome.split(":", 1)[1] if outcome.startswith("wrong:") else "?"
            problem = (
                f'<p class="error" id="pin-wrong">暗証番号が違います。残り {tries} 回。'
                f'<span class="en" lang="en">That PIN was wrong. Tries left: {tries}.</span></p>'
                if outcome.startswith("wrong:")
                else '<p class="error">カードを読み取れませんでした。<span class="en" lang="en">The card could not be read.</span></p>'
            )
            return self._app_page(form["request"], query["client_id"], problem)
        self.provider.pending.pop(form["request"], None)
        request = _Request("GET", pending["uri"], {}, query, {})
        client = self.provider.query_client(query["client_id"])
        user = HolderAtClient(self.provider.holder, self.provider.pairwise_sub(client.client_id))
        response = self.provider.create_authorization_response(request, grant_user=user)
        self._send(response.status, response.body, response.headers)

    def _userinfo(self):
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        found = self.provider.tokens.get(token)
        if found is None or found[2] < time.time():
            return self._send(
                401,
                json.dumps({"error": "invalid_token"}),
                [("WWW-Authenticate", 'Bearer error="invalid_token"')],
            )
        user, scope, _expires = found
        self._json(200, user_info(user, scope))


def serve(host, port, *, clients, card_path, holder, realm_path=REALM_PATH):
    """The provider's HTTP server (not started): issuer http://host:port/realms/standin."""
    server = ThreadingHTTPServer((host, port), _Handler)
    issuer = f"http://{host}:{server.server_address[1]}{realm_path}"
    provider = StandinProvider(issuer, clients, card_path, holder)
    server.RequestHandlerClass = type("Handler", (_Handler,), {"provider": provider})
    server.daemon_threads = True
    return server, provider
