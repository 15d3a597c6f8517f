"""Client keys and signed assertions: what the token endpoint accepts of JOSE, on joserfc.

joserfc parses keys (RFC 7517/7518), compact JWS (RFC 7515) and checks signatures; this module holds
our policy around it: public signing keys only (a private member is refused, not stripped), a kid on
every key, RSA of 2048 bits or more, EC on P-256 or P-384 only, and five algorithms, none of them
HMAC or `none`. Keys are never taken from the token itself (jwk, jku, x5u, x5c are ignored: the key
is always the one registered for the client). Kept free of Django so it reads as a spec.
"""

import base64
import json
import re
import warnings

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc.errors import BadSignatureError, SecurityWarning
from joserfc.errors import JoseError as LibraryError
from joserfc.jwk import ECKey, RSAKey

# alg -> (key type, curve for EC). RS384 and ES384 are what SMART Backend Services requires.
ALGORITHMS = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "PS384": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
}
# Curve -> coordinate length in bytes.
CURVES = {"P-256": 32, "P-384": 48}
PEM_CURVES = {ec.SECP256R1.name: "P-256", ec.SECP384R1.name: "P-384"}
MIN_RSA_BITS = 2048

# Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# What we keep of a registered JWK; anything else is dropped.
PUBLIC_MEMBERS = {
    "RSA": ("kty", "kid", "use", "alg", "key_ops", "n", "e"),
    "EC": ("kty", "kid", "use", "alg", "key_ops", "crv", "x", "y"),
}
# RFC 7515 §2: base64url without padding; anything else is refused instead of guessed at.
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class JoseError(ValueError):
    """A key or token that cannot be used; the message says why, in English, for the error code."""


class PrivateKeyMember(JoseError):
    def __init__(self, kid, member):
        super().__init__(f"key {kid} has private member {member}")
        self.kid, self.member = kid, member


class UnsupportedKey(JoseError):
    def __init__(self, kid, reason):
        super().__init__(reason)
        self.kid, self.reason = kid, reason


# --- keys ------------------------------------------------------------------------------------
def public_jwk(jwk: dict) -> dict:
    """Check one registered JWK and return its public members only.

    Refuses private members outright (a private key sent to us is a leak to report, not to strip).
    """
    if not isinstance(jwk, dict):
        raise JoseError("a key is not a JSON object")
    kid = jwk.get("kid")
    for member in PRIVATE_MEMBERS:
        if member in jwk:
            raise PrivateKeyMember(kid or "?", member)
    if not isinstance(kid, str) or not kid:
        raise JoseError("every key needs a kid")
    kty = jwk.get("kty")
    if kty not in PUBLIC_MEMBERS:
        raise UnsupportedKey(kid, f"key type {kty!r} is not supported")
    if "use" in jwk and jwk["use"] != "sig":
        raise UnsupportedKey(kid, "use must be sig")
    if "key_ops" in jwk and (not isinstance(jwk["key_ops"], list) or "verify" not in jwk["key_ops"]):
        raise UnsupportedKey(kid, "key_ops must include verify")
    if "alg" in jwk and (jwk["alg"] not in ALGORITHMS or not _alg_fits(jwk["alg"], jwk)):
        raise UnsupportedKey(kid, f"alg {jwk['alg']!r} is not accepted for this key")
    kept = {m: jwk[m] for m in PUBLIC_MEMBERS[kty] if m in jwk}
    load_public_key(kept)  # proves the numbers make a usable key
    return kept


def load_public_key(jwk: dict) -> RSAKey | ECKey:
    """The joserfc key of a public JWK, within our policy (key size, curve, full-length coordinates)."""
    kid = jwk.get("kid", "?")
    kty = jwk.get("kty")
    if kty not in PUBLIC_MEMBERS:
        raise UnsupportedKey(kid, f"key type {kty!r} is not supported")
    for member in PUBLIC_MEMBERS[kty][5:]:  # the key numbers: n, e / crv, x, y
        if member not in jwk:
            raise UnsupportedKey(kid, f"member {member} is missing")
    if kty == "EC":
        if jwk["crv"] not in CURVES:
            raise UnsupportedKey(kid, f"curve {jwk['crv']!r} is not supported")
        size = CURVES[jwk["crv"]]
        if any(_b64url_length(jwk[m]) != size for m in ("x", "y")):
            raise UnsupportedKey(kid, "x and y must be the curve's full coordinate length")
    else:
        if any(not _b64url_length(jwk[m]) for m in ("n", "e")):
            raise UnsupportedKey(kid, "n and e must be non-empty base64url")
        bits = int.from_bytes(
            base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4)), "big"
        ).bit_length()
        if bits < MIN_RSA_BITS:
            raise UnsupportedKey(kid, f"RSA key of {bits} bits is too small")
    try:
        key = (ECKey if kty == "EC" else RSAKey).import_key(dict(jwk))
        key.public_key  # noqa: B018 - built lazily: a point off the curve or a bad modulus raises here
    except (LibraryError, ValueError, TypeError) as exc:
        raise UnsupportedKey(kid, f"the key numbers are not valid ({exc or type(exc).__name__})") from exc
    return key


def _b64url_length(value) -> int:
    """Decoded length of a strict base64url string; 0 for anything else."""
    if not isinstance(value, str) or not _B64URL.match(value) or len(value) % 4 == 1:
        return 0
    return (len(value) * 3) // 4


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256), our kid for keys registered as PEM."""
    return load_public_key(jwk).thumbprint()


def jwk_from_pem(pem: bytes) -> dict:
    """A public JWK (kid = its thumbprint) from a PEM public key. Refuses private keys."""
    if b"PRIVATE KEY" in pem:
        raise PrivateKeyMember("PEM", "PRIVATE KEY")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise JoseError(str(exc) or "unreadable PEM") from exc
    if isinstance(key, rsa.RSAPublicKey):
        with warnings.catch_warnings():
            # A small key is refused below (public_jwk), naming its thumbprint kid; no warning first.
            warnings.simplefilter("ignore", SecurityWarning)
            imported = RSAKey.import_key(key)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in PEM_CURVES:
            raise UnsupportedKey("PEM", f"curve {key.curve.name} is not supported")
        imported = ECKey.import_key(key)
    else:
        raise UnsupportedKey("PEM", f"{type(key).__name__} is not supported")
    jwk = {
        m: v for m, v in imported.as_dict(private=False).items() if m in ("kty", "crv", "x", "y", "n", "e")
    }
    jwk["kid"] = imported.thumbprint()
    return public_jwk(jwk)


def _alg_fits(alg: str, jwk: dict) -> bool:
    kty, crv = ALGORITHMS[alg]
    if kty == "RSA":
        return jwk.get("kty") == "RSA"
    return jwk.get("kty") == "EC" and jwk.get("crv") == crv


def alg_fits_key(alg: str, jwk: dict) -> bool:
    return alg in ALGORITHMS and _alg_fits(alg, jwk) and jwk.get("alg", alg) == alg


# --- signed tokens ---------------------------------------------------------------------------
class CompactJWS:
    """A parsed, not yet verified, compact JWS whose payload is a JSON object (a JWT)."""

    def __init__(self, token: str):
        if not isinstance(token, str):
            raise JoseError("not a string")
        if token.count(".") != 2:
            raise JoseError("a signed JWT has three dot-separated parts")
        self.token = token
        try:
            extracted = jws.extract_compact(token.encode("ascii", "replace"))
        except (LibraryError, ValueError, UnicodeDecodeError) as exc:
            raise JoseError(f"not a compact JWS ({exc})") from exc
        self.header = dict(extracted.headers())
        try:
            claims = json.loads(extracted.payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise JoseError("the payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise JoseError("the payload is not a JSON object")
        self.claims = claims

    def verify(self, alg: str, jwk: dict) -> bool:
        """True when the signature verifies with this key under alg (and only alg)."""
        if alg not in ALGORITHMS:
            return False
        try:
            jws.deserialize_compact(self.token, load_public_key(jwk), algorithms=[alg])
        except BadSignatureError:
            return False
        except LibraryError as exc:
            raise JoseError(str(exc)) from exc
        return True
