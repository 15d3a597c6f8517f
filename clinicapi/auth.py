"""Authentication of the institutions' API: clients, client assertions, access tokens.

SMART Backend Services style (RFC 6749 client_credentials + RFC 7523 private_key_jwt): an
institution system registers public keys, signs a short-lived JWT assertion for each token request,
and receives a bearer token naming its institution and scopes. Tokens are stored hashed and checked
against the database on every request, so a revoked client stops at its next call.
"""

import hashlib
import json
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.urls import reverse
from django.utils import timezone

from homeconsent.audit.models import Action, ActorType, Basis
from homeconsent.audit.services import record_access
from homeconsent.registry.models import Institution
from homeconsent.sqlrows import Columns, per_connection, table

from . import client_keys, errors
from .models import AccessToken, ApiClient, UsedAssertion
from .scopes import MEDICAL_SCOPES, SCOPES, format_scope, parse_scope

log = logging.getLogger(__name__)
# JSON numbers beyond this are not exact integers; a larger exp/iat/nbf is no date (and may overflow).
MAX_NUMERIC_DATE = 2**53

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_TYPE = "Bearer"


# --- clients ---------------------------------------------------------------------------------
def public_jwks(jwks_or_pem) -> dict:
    """A checked {"keys": [...]} of public JWKs from a JWKS, a single JWK, its JSON text, or a PEM.

    Raises HomeConsentError; private key material is refused, never silently stripped.
    """
    value = jwks_or_pem
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-----BEGIN"):
            return {"keys": [_jwk_from_pem(text.encode("ascii", "replace"))]}
        try:
            value = json.loads(text)
        except ValueError:
            raise errors.JWKS_INVALID(reason="neither JSON nor a PEM public key") from None
    if isinstance(value, dict) and "keys" not in value and "kty" in value:
        value = {"keys": [value]}
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise errors.JWKS_INVALID(reason='expected {"keys": [ ... ]} with at least one key')
    keys = []
    for jwk in value["keys"]:
        try:
            keys.append(client_keys.public_jwk(jwk))
        except client_keys.PrivateKeyMember as exc:
            raise errors.JWKS_PRIVATE_KEY(kid=exc.kid, member=exc.member) from None
        except client_keys.UnsupportedKey as exc:
            raise errors.JWKS_KEY_UNSUPPORTED(kid=exc.kid, reason=exc.reason) from None
        except client_keys.JoseError as exc:
            raise errors.JWKS_INVALID(reason=str(exc)) from None
    kids = [k["kid"] for k in keys]
    if len(set(kids)) != len(kids):
        raise errors.JWKS_INVALID(reason="two keys share one kid")
    return {"keys": keys}


def _jwk_from_pem(pem: bytes) -> dict:
    try:
        return client_keys.jwk_from_pem(pem)
    except client_keys.PrivateKeyMember:
        raise errors.JWKS_PRIVATE_KEY(kid="PEM", member="PRIVATE KEY") from None
    except client_keys.UnsupportedKey as exc:
        raise errors.JWKS_KEY_UNSUPPORTED(kid=exc.kid, reason=exc.reason) from None
    except client_keys.JoseError as exc:
        raise errors.PUBLIC_KEY_PEM_INVALID(reason=str(exc)) from None


def checked_scopes(institution: Institution, scopes) -> list[str]:
    scopes = list(dict.fromkeys(scopes))
    if not scopes:
        raise errors.SCOPE_NONE_GIVEN()
    for scope in scopes:
        if scope not in SCOPES:
            raise errors.SCOPE_UNKNOWN_FOR_CLIENT(scope=scope, known=" ".join(SCOPES))
        if scope in MEDICAL_SCOPES and institution.qualification_only:
            raise errors.SCOPE_MEDICAL_FOR_QUALIFICATION_ONLY(institution=institution.code, scope=scope)
    return scopes


def _log_client_change(client: ApiClient, action: str, by: str) -> None:
    # Who may read through the API is part of the record an institution and its patients can trust.
    record_access(
        actor_type=ActorType.OPERATOR,
        actor_id=by,
        items=["api_client"],
        basis=Basis.OPERATOR,
        institution_code=client.institution.code,
        detail={
            "action": action,
            "client_id": client.client_id,
            "name": client.name,
            "scopes": client.scopes,
        },
    )


def clean_client_name(name: str) -> str:
    """What the client is ("EHR production"), stripped; refuses client_name_missing."""
    name = (name or "").strip()
    if not name:
        raise errors.CLIENT_NAME_MISSING()
    return name


def do_register_client(
    institution: Institution, name: str, jwks_or_pem, scopes, *, by: str = "operator"
) -> ApiClient:
    """Register an institution system as an API client with its public keys and allowed scopes."""
    name = clean_client_name(name)
    jwks = public_jwks(jwks_or_pem)
    allowed = checked_scopes(institution, scopes)
    with transaction.atomic():
        client = ApiClient.objects.create(institution=institution, name=name, jwks=jwks, scopes=allowed)
        _log_client_change(client, Action.API_CLIENT_REGISTERED, by)
    return client


def do_revoke_client(client: ApiClient, *, by: str = "operator", now: datetime | None = None) -> ApiClient:
    """Revoke a client and every token it holds; its next request is refused."""
    now = now or timezone.now()
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().get(pk=client.pk)
        AccessToken.objects.filter(client=client, revoked_at__isnull=True).update(revoked_at=now)
        if client.revoked_at is None:
            client.revoked_at = now
            client.save(update_fields=["revoked_at"])
            _log_client_change(client, Action.API_CLIENT_REVOKED, by)
    return client


# --- the token endpoint ----------------------------------------------------------------------
def token_audience(request) -> str:
    """The one aud a client assertion may name: CLINICAPI_TOKEN_URL, or this request's token URL."""
    return settings.CLINICAPI_TOKEN_URL or request.build_absolute_uri(reverse("clinicapi:token"))


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scopes: tuple[str, ...]
    client_id: str

    def as_response(self) -> dict:
        return {
            "access_token": self.access_token,
            "token_type": TOKEN_TYPE,
            "expires_in": self.expires_in,
            "scope": format_scope(self.scopes),
        }


def do_grant_token(
    *,
    grant_type: str | None,
    client_assertion_type: str | None,
    client_assertion: str | None,
    scope: str | None,
    audience: str,
    client_id: str | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Check a client_credentials request with its signed assertion; issue a token or refuse.

    Who is asking (client, key, algorithm, signature, revocation) answers invalid_client; whether
    this particular signed assertion is acceptable (exp, iat, nbf, aud, jti) answers invalid_grant.
    Claims are only judged after the signature verifies.
    """
    now = now or timezone.now()
    if not grant_type:
        raise errors.TOKEN_REQUEST_PARAMETER_MISSING(name="grant_type")
    if grant_type != GRANT_TYPE:
        raise errors.GRANT_TYPE_UNSUPPORTED(value=grant_type[:64])
    if not client_assertion_type:
        raise errors.TOKEN_REQUEST_PARAMETER_MISSING(name="client_assertion_type")
    if client_assertion_type != ASSERTION_TYPE:
        raise errors.ASSERTION_TYPE_UNSUPPORTED()
    if not client_assertion:
        raise errors.TOKEN_REQUEST_PARAMETER_MISSING(name="client_assertion")

    with transaction.atomic():
        client, claims = _authenticate_client(client_assertion, client_id)
        _check_assertion_claims(client, claims, audience, now)
        scopes = _granted_scopes(client, scope)
        token, record = do_issue_access_token(client, scopes, now=now)
    return IssuedToken(token, int((record.expires_at - now).total_seconds()), tuple(scopes), client.client_id)


def _authenticate_client(assertion: str, client_id: str | None) -> tuple[ApiClient, dict]:
    try:
        jws = client_keys.CompactJWS(assertion)
    except client_keys.JoseError as exc:
        raise errors.ASSERTION_MALFORMED(reason=str(exc)) from None
    alg = jws.header.get("alg")
    if not isinstance(alg, str) or alg not in client_keys.ALGORITHMS:
        raise errors.ASSERTION_ALGORITHM_REFUSED(alg=str(alg), allowed=" ".join(client_keys.ALGORITHMS))
    if "crit" in jws.header:
        # RFC 7515 §4.1.11: we understand no critical extension, so the JWS cannot be accepted.
        raise errors.ASSERTION_MALFORMED(reason="crit header parameters are not supported")
    kid = jws.header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise errors.ASSERTION_KID_MISSING()
    iss, sub = jws.claims.get("iss"), jws.claims.get("sub")
    if not isinstance(iss, str) or not iss or iss != sub:
        raise errors.ASSERTION_ISSUER_SUBJECT()
    if client_id is not None and client_id != iss:
        raise errors.CLIENT_ID_MISMATCH()
    client = ApiClient.objects.select_related("institution").filter(client_id=iss).first()
    jwk = client.key(kid) if client is not None else None
    if jwk is None:
        # One answer for both, so the refusal does not tell which client ids exist; the log does.
        log.info(
            "token refused: %s",
            "unknown client" if client is None else "unknown kid for a known client",
            extra={"client_id": iss[:64], "kid": kid[:64]},
        )
        raise errors.CLIENT_KEY_UNKNOWN(client_id=iss[:64], kid=kid[:64])
    if not client_keys.alg_fits_key(alg, jwk):
        raise errors.ASSERTION_ALGORITHM_KEY_MISMATCH(alg=alg, kid=kid)
    if not jws.verify(alg, jwk):
        raise errors.ASSERTION_SIGNATURE_INVALID()
    if client.is_revoked:
        raise errors.CLIENT_REVOKED()
    return client, jws.claims


def _numeric_date(claims: dict, name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.ASSERTION_CLAIM_MISSING(claim=name)
    if isinstance(value, int) and abs(value) > MAX_NUMERIC_DATE:  # before math, which could overflow
        raise errors.ASSERTION_CLAIM_MISSING(claim=name)
    if not math.isfinite(value) or abs(value) > MAX_NUMERIC_DATE:
        raise errors.ASSERTION_CLAIM_MISSING(claim=name)
    return float(value)


def _check_assertion_claims(client: ApiClient, claims: dict, audience: str, now: datetime) -> None:
    leeway = settings.CLINICAPI_CLOCK_LEEWAY.total_seconds()
    max_lifetime = settings.CLINICAPI_ASSERTION_MAX_LIFETIME.total_seconds()
    t = now.timestamp()

    exp = _numeric_date(claims, "exp", required=True)
    if exp < t - leeway:
        raise errors.ASSERTION_EXPIRED()
    if exp > t + max_lifetime + leeway:
        raise errors.ASSERTION_LIFETIME_TOO_LONG(seconds=int(max_lifetime))
    for name in ("iat", "nbf"):
        value = _numeric_date(claims, name, required=False)
        if value is not None and value > t + leeway:
            raise errors.ASSERTION_FROM_FUTURE(claim=name)

    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise errors.ASSERTION_AUDIENCE_WRONG(expected=audience)

    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise errors.ASSERTION_CLAIM_MISSING(claim="jti")
    # Kept until exp + leeway: after that the assertion is refused as expired, so the row can go.
    UsedAssertion.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(
                client=client, jti=jti, expires_at=datetime.fromtimestamp(exp + leeway, UTC)
            )
    except IntegrityError:
        raise errors.ASSERTION_REPLAYED() from None


def _granted_scopes(client: ApiClient, scope: str | None) -> list[str]:
    requested = parse_scope(scope or "")
    if not requested:
        raise errors.SCOPE_MISSING()
    for item in requested:
        if item not in SCOPES:
            raise errors.SCOPE_UNKNOWN(scope=item[:64])
        if item not in client.scopes or (item in MEDICAL_SCOPES and client.institution.qualification_only):
            raise errors.SCOPE_NOT_ALLOWED(scope=item)
    return requested


def _token_hash(token: str) -> str:
    # A plain SHA-256 suffices: the token carries 256 random bits, nothing to guess or brute-force.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def do_issue_access_token(client: ApiClient, scopes, now: datetime | None = None) -> tuple[str, AccessToken]:
    """A new bearer token for a client; only its hash is stored. Returns (token, record)."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        AccessToken.objects.filter(client=client, expires_at__lt=now).delete()
        record = AccessToken.objects.create(
            token_hash=_token_hash(token),
            client=client,
            institution_code=client.institution.code,
            scopes=list(scopes),
            issued_at=now,
            expires_at=now + settings.CLINICAPI_ACCESS_TOKEN_TTL,
        )
    return token, record


# --- bearer tokens on the protected endpoints ------------------------------------------------
@dataclass(frozen=True)
class ApiAccess:
    """request.auth of a protected endpoint: who calls, for which institution, with which scopes."""

    client_id: str
    institution_code: str
    scopes: frozenset[str]
    token_id: int
    expires_at: datetime

    def has_scopes(self, *scopes) -> bool:
        return set(scopes) <= self.scopes


_TOKEN = Columns(AccessToken, exclude=("token_hash",))
_CLIENT = Columns(ApiClient, exclude=("jwks",))  # the keys matter at the token URL only
_INSTITUTION = Columns(Institution)


@per_connection
def _token_sql(connection) -> str:
    q = connection.ops.quote_name
    return (
        f"SELECT {_TOKEN.sql('t', connection)}, {_CLIENT.sql('c', connection)}, "
        f"{_INSTITUTION.sql('i', connection)} FROM {table(AccessToken, connection)} t "
        f"JOIN {table(ApiClient, connection)} c ON c.{q('id')} = t.{q('client_id')} "
        f"JOIN {table(Institution, connection)} i ON i.{q('id')} = c.{q('institution_id')} "
        f"WHERE t.{q('token_hash')} = %s"
    )


def _token_record(token_hash: str) -> AccessToken | None:
    """The token with its client and the client's institution, in one hand-written join (the
    per-request check; sqlrows explains why not the ORM). Nothing is cached between requests."""
    connection = connections[router.db_for_read(AccessToken)]
    sql = _token_sql(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    record = _TOKEN.instance(row, connection)
    client = _CLIENT.instance(row, connection, len(_TOKEN))
    institution = _INSTITUTION.instance(row, connection, len(_TOKEN) + len(_CLIENT))
    ApiClient.institution.field.set_cached_value(client, institution)
    AccessToken.client.field.set_cached_value(record, client)
    return record


def authenticate_token(token: str, now: datetime | None = None) -> tuple[ApiClient, ApiAccess]:
    """The client and access of a presented bearer token, checked afresh; raises HomeConsentError."""
    now = now or timezone.now()
    if not token or len(token) > 128 or not token.isascii():
        raise errors.TOKEN_INVALID()
    record = _token_record(_token_hash(token))
    if record is None:
        raise errors.TOKEN_INVALID()
    if record.revoked:
        raise errors.TOKEN_REVOKED()
    if record.client.is_revoked:
        raise errors.TOKEN_CLIENT_REVOKED()
    if now >= record.expires_at:
        raise errors.TOKEN_EXPIRED()
    access = ApiAccess(
        client_id=record.client.client_id,
        institution_code=record.institution_code,
        scopes=frozenset(record.scopes),
        token_id=record.pk,
        expires_at=record.expires_at,
    )
    return record.client, access
