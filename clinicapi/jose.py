"""The small part of JOSE the token endpoint needs, on `cryptography` alone.

Public JWKs in (RFC 7517/7518), signed compact JWTs verified (RFC 7515), nothing else: no
encryption, no HMAC, no `none`, no keys taken from the token itself (jwk, jku, x5u, x5c are ignored;
the key is always the one registered for the client). Kept free of Django so it reads as a spec.
"""

import base64
import binascii
import hashlib
import json
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# alg -> (key type, hash, curve for EC). RS384 and ES384 are what SMART Backend Services requires.
ALGORITHMS = {
    "RS256": ("RSA", hashes.SHA256, None),
    "RS384": ("RSA", hashes.SHA384, None),
    "PS384": ("RSA-PSS", hashes.SHA384, None),
    "ES256": ("EC", hashes.SHA256, "P-256"),
    "ES384": ("EC", hashes.SHA384, "P-384"),
}
CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48)}
MIN_RSA_BITS = 2048

# Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# What we keep of a registered JWK; anything else is dropped.
PUBLIC_MEMBERS = {"RSA": ("kty", "kid", "use", "alg", "key_ops", "n", "e"), "EC": ("kty", "kid", "use", "alg", "key_ops", "crv", "x", "y")}

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


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


def b64url_decode(value: str) -> bytes:
    # RFC 7515 §2: base64url without padding; refuse anything else instead of guessing.
    if not isinstance(value, str) or not _B64URL.match(value) or len(value) % 4 == 1:
        raise JoseError("not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JoseError("not base64url") from exc


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: str, what: str) -> int:
    raw = b64url_decode(value)
    if not raw:
        raise JoseError(f"{what} is empty")
    return int.from_bytes(raw, "big")


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


def load_public_key(jwk: dict):
    kid = jwk.get("kid", "?")
    try:
        if jwk["kty"] == "RSA":
            key = rsa.RSAPublicNumbers(_uint(jwk["e"], "e"), _uint(jwk["n"], "n")).public_key()
            if key.key_size < MIN_RSA_BITS:
                raise UnsupportedKey(kid, f"RSA key of {key.key_size} bits is too small")
            return key
        if jwk["kty"] == "EC":
            if jwk.get("crv") not in CURVES:
                raise UnsupportedKey(kid, f"curve {jwk.get('crv')!r} is not supported")
            curve, size = CURVES[jwk["crv"]]
            x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
            if len(x) != size or len(y) != size:
                raise UnsupportedKey(kid, "x and y must be the curve's full coordinate length")
            # Raises ValueError for a point not on the curve.
            return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve()).public_key()
    except KeyError as exc:
        raise UnsupportedKey(kid, f"member {exc.args[0]} is missing") from exc
    except UnsupportedKey:
        raise
    except (ValueError, TypeError) as exc:
        raise UnsupportedKey(kid, f"the key numbers are not valid ({exc})") from exc
    raise UnsupportedKey(kid, f"key type {jwk.get('kty')!r} is not supported")


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256), our kid for keys registered as PEM."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in required}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def jwk_from_pem(pem: bytes) -> dict:
    """A public JWK (kid = its thumbprint) from a PEM public key. Refuses private keys."""
    if b"PRIVATE KEY" in pem:
        raise PrivateKeyMember("PEM", "PRIVATE KEY")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise JoseError(str(exc) or "unreadable PEM") from exc
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        jwk = {"kty": "RSA", "n": _b64_uint(numbers.n), "e": _b64_uint(numbers.e)}
    elif isinstance(key, ec.EllipticCurvePublicKey):
        names = {ec.SECP256R1.name: "P-256", ec.SECP384R1.name: "P-384"}
        if key.curve.name not in names:
            raise UnsupportedKey("PEM", f"curve {key.curve.name} is not supported")
        crv = names[key.curve.name]
        size = CURVES[crv][1]
        numbers = key.public_numbers()
        jwk = {
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": b64url_encode(numbers.y.to_bytes(size, "big")),
        }
    else:
        raise UnsupportedKey("PEM", f"{type(key).__name__} is not supported")
    jwk["kid"] = thumbprint(jwk)
    return public_jwk(jwk)


def _b64_uint(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def _alg_fits(alg: str, jwk: dict) -> bool:
    kty, _, crv = ALGORITHMS[alg]
    if kty in ("RSA", "RSA-PSS"):
        return jwk.get("kty") == "RSA"
    return jwk.get("kty") == "EC" and jwk.get("crv") == crv


# --- signed tokens ---------------------------------------------------------------------------
class CompactJWS:
    """A parsed, not yet verified, compact JWS whose payload is a JSON object (a JWT)."""

    def __init__(self, token: str):
        if not isinstance(token, str):
            raise JoseError("not a string")
        parts = token.split(".")
        if len(parts) != 3:
            raise JoseError("a signed JWT has three dot-separated parts")
        self.signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        self.header = self._json(parts[0], "header")
        self.claims = self._json(parts[1], "payload")
        self.signature = b64url_decode(parts[2])

    @staticmethod
    def _json(part: str, what: str) -> dict:
        try:
            value = json.loads(b64url_decode(part))
        except (ValueError, UnicodeDecodeError) as exc:
            raise JoseError(f"the {what} is not JSON") from exc
        if not isinstance(value, dict):
            raise JoseError(f"the {what} is not a JSON object")
        return value

    def verify(self, alg: str, jwk: dict) -> bool:
        """True when the signature over the signing input verifies with this key under alg."""
        kty, hash_cls, crv = ALGORITHMS[alg]
        key = load_public_key(jwk)
        try:
            if kty == "RSA":
                key.verify(self.signature, self.signing_input, padding.PKCS1v15(), hash_cls())
            elif kty == "RSA-PSS":
                pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
                key.verify(self.signature, self.signing_input, pss, hash_cls())
            else:
                # JWS carries ECDSA as the fixed-length r || s (RFC 7518 §3.4), cryptography wants DER.
                size = CURVES[crv][1]
                if len(self.signature) != 2 * size:
                    return False
                r = int.from_bytes(self.signature[:size], "big")
                s = int.from_bytes(self.signature[size:], "big")
                key.verify(encode_dss_signature(r, s), self.signing_input, ec.ECDSA(hash_cls()))
        except InvalidSignature:
            return False
        return True


def alg_fits_key(alg: str, jwk: dict) -> bool:
    return alg in ALGORITHMS and _alg_fits(alg, jwk) and jwk.get("alg", alg) == alg
