"""Keys, client assertions (private_key_jwt) and HTTP calls, on the standard library and cryptography.

Nothing here imports Django or the server's code: the JWS is built from RFC 7515/7518 directly, so
the server's verifier is checked against an independent implementation.
"""

import base64
import hashlib
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 240  # seconds: under the server's 5-minute limit, with room for clock skew
USER_AGENT = "homeconsent-reference-client/1"
CURVES = {
    "P-256": (ec.SECP256R1, 32, "ES256", hashes.SHA256),
    "P-384": (ec.SECP384R1, 48, "ES384", hashes.SHA384),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(number: int, length: int | None = None) -> str:
    length = length or max(1, (number.bit_length() + 7) // 8)
    return b64url(number.to_bytes(length, "big"))


# --- keys --------------------------------------------------------------------------------------
def generate_key(alg: str):
    """A new private key for ES384 (P-384), ES256 (P-256) or RS384/RS256/PS384 (RSA 3072)."""
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg in ("RS384", "RS256", "PS384"):
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unsupported algorithm {alg!r}; use ES384 or RS384")


def load_private_key(path: str):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_members(key) -> dict:
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        name = {"secp256r1": "P-256", "secp384r1": "P-384"}.get(public.curve.name)
        if name is None:
            raise ValueError(f"unsupported curve {public.curve.name}")
        size = CURVES[name][1]
        numbers = public.public_numbers()
        return {"crv": name, "kty": "EC", "x": _uint(numbers.x, size), "y": _uint(numbers.y, size)}
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    raise ValueError("only EC (P-256, P-384) and RSA keys are supported")


def jwk_thumbprint(key) -> str:
    """RFC 7638 SHA-256 thumbprint (base64url) of the public key: the default kid."""
    members = _public_members(key)
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[members["kty"]]
    canonical = json.dumps({k: members[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def default_alg(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return CURVES[_public_members(key)["crv"]][2]
    return "RS384"


def public_jwk(key, kid: str | None = None, alg: str | None = None) -> dict:
    """The public JWK to register (never any private member)."""
    return {
        **_public_members(key),
        "kid": kid or jwk_thumbprint(key),
        "use": "sig",
        "alg": alg or default_alg(key),
    }


# --- the client assertion ----------------------------------------------------------------------
def sign_jws(header: dict, claims: dict, key) -> str:
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    data = signing_input.encode("ascii")
    alg = header["alg"]
    digest = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[alg[2:]]()
    if alg.startswith("ES"):
        der = key.sign(data, ec.ECDSA(digest))
        r, s = decode_dss_signature(der)
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # JWS wants raw r||s (RFC 7518 §3.4)
    elif alg.startswith("RS"):
        signature = key.sign(data, padding.PKCS1v15(), digest)
    elif alg.startswith("PS"):
        signature = key.sign(data, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
    else:
        raise ValueError(f"unsupported algorithm {alg!r}")
    return signing_input + "." + b64url(signature)


def sign_assertion(
    client_id: str,
    token_url: str,
    key,
    *,
    kid: str | None = None,
    alg: str | None = None,
    lifetime: int = ASSERTION_LIFETIME,
    now: float | None = None,
) -> str:
    """A private_key_jwt client assertion: iss = sub = client_id, aud = the token URL, a fresh jti,
    exp at most 5 minutes ahead."""
    if not 0 < lifetime <= 300:
        raise ValueError("an assertion lives at most 300 seconds")
    now = int(now if now is not None else time.time())
    header = {"alg": alg or default_alg(key), "kid": kid or jwk_thumbprint(key), "typ": "JWT"}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    return sign_jws(header, claims, key)


# --- HTTP ----------------------------------------------------------------------------------------
class ApiError(Exception):
    """A refusal from the API: the HTTP status and the coded body (code, message, message_en)."""

    def __init__(self, status: int, body):
        self.status = status
        self.body = body if isinstance(body, dict) else {"message_en": str(body)}
        self.code = self.body.get("code") or self.body.get("error") or f"http_{status}"
        super().__init__(
            f"{status} {self.code}: {self.body.get('message_en') or self.body.get('error_description', '')}"
        )


class Client:
    """The API from Python: get a token with a signed assertion, then GET/POST with it."""

    def __init__(
        self,
        base: str,
        client_id: str = "",
        key=None,
        *,
        kid: str | None = None,
        alg: str | None = None,
        token_url: str | None = None,
        access_token: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ):
        self.base = base.rstrip("/")
        self.client_id = client_id
        self.key = key
        self.kid = kid
        self.alg = alg
        self.token_url = token_url or self.base + "/auth/token"
        self.access_token = access_token
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def _send(self, request):
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                body = response.read()
                kind = response.headers.get("Content-Type", "")
                return json.loads(body) if "json" in kind and body else body.decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            raise ApiError(exc.code, body) from None

    def token(self, scopes) -> dict:
        """POST the token URL: client_credentials with a fresh assertion. Returns the token response."""
        if not self.client_id or self.key is None:
            raise ValueError("a client id and a private key are needed to get a token")
        assertion = sign_assertion(self.client_id, self.token_url, self.key, kid=self.kid, alg=self.alg)
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
                "scope": " ".join(scopes) if not isinstance(scopes, str) else scopes,
            }
        ).encode()
        request = urllib.request.Request(
            self.token_url,
            data=form,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        issued = self._send(request)
        self.access_token = issued["access_token"]
        return issued

    def request(
        self, method: str, path: str, *, params=None, body=None, scopes=(), accept="application/json"
    ):
        """One call with the bearer token (one is fetched for `scopes` when none is held)."""
        if self.access_token is None:
            self.token(scopes)
        url = self.base + "/" + path.lstrip("/")
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": accept, "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        return self._send(urllib.request.Request(url, data=data, method=method, headers=headers))

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body=body, **kwargs)


def write_private_key(path: str, key, *, force: bool = False) -> None:
    """Write the private key PEM readable by its owner only (0600), never replacing one silently."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private_pem(key))
    finally:
        os.close(fd)
