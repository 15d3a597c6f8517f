"""Every refusal of the institutions' API, with its code and its Japanese and English message.

Two shapes, one core. Every error body under /api/ carries HomeConsentError.as_dict():
{"code", "message" (Japanese), "message_en"}. The token endpoint adds the OAuth 2.0 members
(RFC 6749 §5.2) in front: {"error", "error_description"} — error_description is the English message.
"""

import math
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from homeconsent.errors import ErrorCode, HomeConsentError

# --- registering a client --------------------------------------------------------------------
JWKS_INVALID = ErrorCode(
    "jwks_invalid",
    "公開鍵セット（JWKS）が正しくありません: {reason}",
    "The public key set (JWKS) is not valid: {reason}",
)
JWKS_PRIVATE_KEY = ErrorCode(
    "jwks_private_key",
    "鍵「{kid}」に秘密鍵の要素「{member}」が含まれています。公開鍵だけを登録してください（秘密鍵は施設の外に出さないでください）。",
    "Key '{kid}' contains the private key member '{member}'. Register public keys only; "
    "the private key must never leave the institution.",
)
JWKS_KEY_UNSUPPORTED = ErrorCode(
    "jwks_key_unsupported",
    "鍵「{kid}」は使えません: {reason}。RSA（2048ビット以上）または EC（P-256・P-384）の公開鍵を登録してください。",
    "Key '{kid}' cannot be used: {reason}. Register an RSA (2048 bits or more) or EC (P-256, P-384) public key.",
)
PUBLIC_KEY_PEM_INVALID = ErrorCode(
    "public_key_pem_invalid",
    "PEM形式の公開鍵として読めません: {reason}",
    "This is not a readable PEM public key: {reason}",
)
SCOPE_UNKNOWN_FOR_CLIENT = ErrorCode(
    "scope_unknown",
    "スコープ「{scope}」はありません。使えるスコープ: {known}",
    "There is no scope '{scope}'. Known scopes: {known}",
)
SCOPE_NONE_GIVEN = ErrorCode(
    "scope_none_given",
    "スコープを1つ以上指定してください。",
    "Give at least one scope.",
)
SCOPE_MEDICAL_FOR_QUALIFICATION_ONLY = ErrorCode(
    "scope_medical_for_qualification_only",
    "資格確認限定型の施設「{institution}」には医療情報のスコープ「{scope}」を与えられません。",
    "Institution {institution} is qualification-only (資格確認限定型): it cannot be given the medical scope '{scope}'.",
)
CLIENT_NAME_MISSING = ErrorCode(
    "client_name_missing",
    "クライアントの名前を入力してください（例: 電子カルテ本番）。",
    "Give the client a name (for example: EHR production).",
)


# --- the token endpoint (RFC 6749 §5.2, RFC 7523) ----------------------------------------------
class TokenRequestRefused(Exception):
    """A refused token request: an OAuth error name and our coded, bilingual reason."""

    def __init__(self, oauth_error: str, error: HomeConsentError):
        super().__init__(f"{oauth_error}: {error.code}")
        self.oauth_error = oauth_error
        self.error = error

    @property
    def status(self) -> int:
        # RFC 6749 §5.2: invalid_client may answer 401; every other error answers 400.
        return 401 if self.oauth_error == "invalid_client" else 400

    def as_dict(self) -> dict:
        return {
            "error": self.oauth_error,
            "error_description": self.error.message("en"),
            **self.error.as_dict(),
        }


@dataclass(frozen=True)
class OAuthRefusal:
    oauth_error: str
    error: ErrorCode

    @property
    def code(self) -> str:
        return self.error.code

    def __call__(self, **params) -> TokenRequestRefused:
        return TokenRequestRefused(self.oauth_error, self.error(**params))


def _oauth(oauth_error, code, ja, en):
    return OAuthRefusal(oauth_error, ErrorCode(code, ja, en))


TOKEN_REQUEST_NOT_FORM = _oauth(
    "invalid_request",
    "token_request_not_form",
    "トークン要求は application/x-www-form-urlencoded で送ってください。",
    "Send the token request as application/x-www-form-urlencoded.",
)
TOKEN_REQUEST_PARAMETER_MISSING = _oauth(
    "invalid_request",
    "token_request_parameter_missing",
    "トークン要求にパラメータ「{name}」がありません。",
    "The token request lacks the parameter '{name}'.",
)
TOKEN_REQUEST_PARAMETER_REPEATED = _oauth(
    "invalid_request",
    "token_request_parameter_repeated",
    "パラメータ「{name}」が2回以上あります。1回だけ送ってください。",
    "The parameter '{name}' appears more than once; send it once.",
)
TOKEN_REQUEST_TWO_CLIENT_AUTHS = _oauth(
    "invalid_request",
    "token_request_two_client_auths",
    "クライアント認証は client_assertion だけで行ってください（Authorization ヘッダーは使いません）。",
    "Authenticate the client with client_assertion only; do not send an Authorization header as well.",
)
CLIENT_ID_MISMATCH = _oauth(
    "invalid_request",
    "client_id_mismatch",
    "client_id が署名付きアサーションの iss と一致しません。",
    "client_id does not match the iss of the signed assertion.",
)
ASSERTION_TYPE_UNSUPPORTED = _oauth(
    "invalid_request",
    "assertion_type_unsupported",
    "client_assertion_type は urn:ietf:params:oauth:client-assertion-type:jwt-bearer にしてください。",
    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
)
# RFC 7523 §3.2: a client JWT that is not valid answers invalid_client (401), unreadable ones too.
ASSERTION_MALFORMED = _oauth(
    "invalid_client",
    "assertion_malformed",
    "client_assertion が署名付きJWT（JWS コンパクト形式）として読めません: {reason}",
    "client_assertion is not a readable signed JWT (JWS compact serialization): {reason}",
)
GRANT_TYPE_UNSUPPORTED = _oauth(
    "unsupported_grant_type",
    "grant_type_unsupported",
    "grant_type「{value}」には対応していません。client_credentials を使ってください。",
    "grant_type '{value}' is not supported; use client_credentials.",
)
ASSERTION_ALGORITHM_REFUSED = _oauth(
    "invalid_client",
    "assertion_algorithm_refused",
    "署名アルゴリズム「{alg}」は使えません。使えるもの: {allowed}",
    "The signature algorithm '{alg}' is not accepted. Accepted: {allowed}",
)
ASSERTION_KID_MISSING = _oauth(
    "invalid_client",
    "assertion_kid_missing",
    "アサーションのヘッダーに kid（登録した鍵のID）がありません。",
    "The assertion header has no kid (the id of a registered key).",
)
ASSERTION_ISSUER_SUBJECT = _oauth(
    "invalid_client",
    "assertion_issuer_subject_mismatch",
    "アサーションの iss と sub は、どちらも client_id にしてください。",
    "The assertion's iss and sub must both be the client_id.",
)
# An unknown client and an unknown kid answer alike: the code must not tell which client ids exist.
CLIENT_KEY_UNKNOWN = _oauth(
    "invalid_client",
    "client_key_unknown",
    "クライアント「{client_id}」に kid「{kid}」の鍵は登録されていません。",
    "No key with kid '{kid}' is registered for a client '{client_id}'.",
)
ASSERTION_ALGORITHM_KEY_MISMATCH = _oauth(
    "invalid_client",
    "assertion_algorithm_key_mismatch",
    "署名アルゴリズム「{alg}」は鍵「{kid}」の種類と合いません。",
    "The signature algorithm '{alg}' does not fit the type of key '{kid}'.",
)
ASSERTION_SIGNATURE_INVALID = _oauth(
    "invalid_client",
    "assertion_signature_invalid",
    "アサーションの署名を登録済みの公開鍵で検証できませんでした。",
    "The assertion's signature does not verify with the registered public key.",
)
CLIENT_REVOKED = _oauth(
    "invalid_client",
    "client_revoked",
    "このクライアントは失効しています。施設の管理者に確認してください。",
    "This client has been revoked; ask the institution's administrator.",
)
ASSERTION_CLAIM_MISSING = _oauth(
    "invalid_grant",
    "assertion_claim_missing",
    "アサーションにクレーム「{claim}」がないか、形が正しくありません。",
    "The assertion's claim '{claim}' is missing or malformed.",
)
ASSERTION_EXPIRED = _oauth(
    "invalid_grant",
    "assertion_expired",
    "アサーションの有効期限（exp）が過ぎています。新しいアサーションを作ってください。",
    "The assertion has expired (exp is in the past); make a new one.",
)
ASSERTION_LIFETIME_TOO_LONG = _oauth(
    "invalid_grant",
    "assertion_lifetime_too_long",
    "アサーションの exp は現在から{seconds}秒以内にしてください。",
    "The assertion's exp must be at most {seconds} seconds ahead.",
)
ASSERTION_FROM_FUTURE = _oauth(
    "invalid_grant",
    "assertion_from_future",
    "アサーションの {claim} が未来の時刻です。クライアントの時計を確かめてください。",
    "The assertion's {claim} lies in the future; check the client's clock.",
)
ASSERTION_AUDIENCE_WRONG = _oauth(
    "invalid_grant",
    "assertion_audience_wrong",
    "アサーションの aud はトークンURL「{expected}」にしてください。",
    "The assertion's aud must be the token URL '{expected}'.",
)
ASSERTION_REPLAYED = _oauth(
    "invalid_grant",
    "assertion_replayed",
    "このアサーション（jti）はすでに使われています。要求ごとに新しい jti で作ってください。",
    "This assertion (jti) has already been used; make a new one with a fresh jti for each request.",
)
SCOPE_MISSING = _oauth(
    "invalid_scope",
    "scope_missing",
    "scope を指定してください（空白区切り、例: qualification.read consent.read）。",
    "Give a scope (space separated, for example: qualification.read consent.read).",
)
SCOPE_UNKNOWN = _oauth(
    "invalid_scope",
    "scope_unknown",
    "スコープ「{scope}」はありません。",
    "There is no scope '{scope}'.",
)
SCOPE_NOT_ALLOWED = _oauth(
    "invalid_scope",
    "scope_not_allowed",
    "このクライアントにはスコープ「{scope}」が許可されていません。",
    "This client is not allowed the scope '{scope}'.",
)


# --- the protected endpoints -------------------------------------------------------------------
TOKEN_MISSING = ErrorCode(
    "token_missing",
    "アクセストークンがありません。Authorization: Bearer <トークン> を付けてください。",
    "No access token: send Authorization: Bearer <token>.",
)
TOKEN_INVALID = ErrorCode(
    "token_invalid",
    "アクセストークンが正しくありません。/api/v1/auth/token で取り直してください。",
    "The access token is not valid; get a new one at /api/v1/auth/token.",
)
TOKEN_EXPIRED = ErrorCode(
    "token_expired",
    "アクセストークンの有効期限が切れています。取り直してください。",
    "The access token has expired; get a new one.",
)
TOKEN_REVOKED = ErrorCode(
    "token_revoked",
    "アクセストークンは失効しています。",
    "The access token has been revoked.",
)
TOKEN_CLIENT_REVOKED = ErrorCode(
    "client_revoked",
    "このクライアントは失効しています。施設の管理者に確認してください。",
    "This client has been revoked; ask the institution's administrator.",
)
SCOPE_INSUFFICIENT = ErrorCode(
    "scope_insufficient",
    "この操作にはスコープ「{scopes}」が必要です。",
    "This operation needs the scope '{scopes}'.",
)
MEDICAL_READ_QUALIFICATION_ONLY = ErrorCode(
    "medical_read_qualification_only",
    "この施設（{institution}）は資格確認のみを行う施設（資格確認限定型: 柔道整復・あはき施術所、健診機関）のため、"
    "{item}は読めません。患者の同意があっても提供されるのは資格情報（eligibility）だけです。",
    "This institution ({institution}) only confirms qualifications (資格確認限定型: judo therapy, acupuncture "
    "and massage clinics, health-check centres), so it cannot read {item_en}. Whatever the patient consented "
    "to, it is given eligibility only.",
)
FORBIDDEN = ErrorCode("forbidden", "この操作は許可されていません。", "This operation is not allowed.")
NOT_FOUND = ErrorCode("not_found", "見つかりません。", "Not found.")
METHOD_NOT_ALLOWED = ErrorCode(
    "method_not_allowed", "メソッド {method} はここでは使えません。", "Method {method} is not allowed here."
)
NOT_ACCEPTABLE = ErrorCode(
    "not_acceptable", "要求された形式では返せません。", "The requested response format is not available."
)
UNSUPPORTED_MEDIA_TYPE = ErrorCode(
    "unsupported_media_type",
    "本文の形式「{media_type}」には対応していません。",
    "The body's media type '{media_type}' is not supported.",
)
BODY_MALFORMED = ErrorCode(
    "body_malformed", "要求の本文が読めません: {reason}", "The request body cannot be read: {reason}"
)
INPUT_INVALID = ErrorCode(
    "input_invalid",
    "入力に誤りがあります（details を見てください）。",
    "The input is not valid (see details).",
)
# Field problems of our own (DRF's built-in ones come in both languages from its catalogs).
UNKNOWN_PARAMETER = ErrorCode(
    "unknown_parameter",
    "パラメータ「{name}」はこのエンドポイントにはありません（綴りを確かめてください）。",
    "This endpoint has no parameter '{name}' (check its spelling).",
)
RANGE_FROM_AFTER_TO = ErrorCode(
    "range_reversed",
    "{start} が {end} より後になっています。",
    "{start} is after {end}.",
)
RATE_LIMITED = ErrorCode(
    "rate_limited",
    "要求が多すぎます。{seconds}秒ほど待ってからやり直してください。",
    "Too many requests; try again in about {seconds} seconds.",
)
REQUEST_TOO_LARGE = ErrorCode(
    "request_too_large",
    "要求の本文が大きすぎます（上限 {limit} バイト）。",
    "The request body is too large (limit {limit} bytes).",
)
LENGTH_REQUIRED = ErrorCode(
    "length_required",
    "要求の本文には Content-Length を付けてください（chunked 転送は受け付けません）。",
    "Send the request body with a Content-Length (chunked transfer is not accepted).",
)
BAD_REQUEST = ErrorCode("bad_request", "要求が正しくありません。", "The request is not valid.")
SERVER_ERROR = ErrorCode(
    "server_error",
    "サーバーで問題が起きました。しばらくしてからやり直してください。",
    "The server had a problem; try again later.",
)
HTTP_ERROR = ErrorCode(
    "http_error", "要求は処理できませんでした（HTTP {status}）。", "The request failed (HTTP {status})."
)

BEARER_REALM = 'Bearer realm="HomeConsent API"'


class ApiRefusal(exceptions.APIException):
    """A refusal of a protected endpoint carrying its coded, bilingual reason."""

    def __init__(self, error: HomeConsentError, status: int):
        super().__init__(detail=error.message("en"), code=error.code)
        self.error = error
        self.status_code = status


class InvalidToken(exceptions.AuthenticationFailed):
    """401 with WWW-Authenticate error="invalid_token" (RFC 6750 §3.1)."""

    def __init__(self, error: HomeConsentError):
        super().__init__(detail=error.message("en"), code=error.code)
        self.error = error


class InsufficientScope(exceptions.PermissionDenied):
    """403 with WWW-Authenticate error="insufficient_scope" (RFC 6750 §3.1)."""

    def __init__(self, scopes):
        self.scopes = sorted(scopes)
        self.error = SCOPE_INSUFFICIENT(scopes=" ".join(self.scopes))
        super().__init__(detail=self.error.message("en"), code=self.error.code)


class FieldProblems(exceptions.ValidationError):
    """input_invalid with its details already in the API's form: {field: [{"code", "message" (Japanese),
    "message_en"}]}; a field inside a list or object is named by its path (entries[3].birth_date)."""

    def __init__(self, problems: dict):
        super().__init__(
            detail={field: [p["message_en"] for p in items] for field, items in problems.items()}
        )
        self.problems = problems

    @classmethod
    def of(cls, field: str, error: HomeConsentError) -> "FieldProblems":
        return cls({field: [error.as_dict()]})

    @classmethod
    def from_drf(cls, ja_detail, en_detail=None) -> "FieldProblems":
        """DRF validation details rendered twice (Japanese and English) as one bilingual dict."""
        problems: dict[str, list] = {}
        en = dict(_leaves(en_detail)) if en_detail is not None else {}
        for path, messages in _leaves(ja_detail):
            twins = en.get(path, [])
            problems[path] = [
                {
                    "code": getattr(m, "code", None) or "invalid",
                    "message": str(m),
                    "message_en": str(twins[i]) if i < len(twins) else str(m),
                }
                for i, m in enumerate(messages)
            ]
        return cls(problems)


def _leaves(detail, path=""):
    """(path, [messages]) of a DRF error detail: dicts by key, lists of non-strings by index."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
            yield from _leaves(value, path + name)
    elif isinstance(detail, list) and detail and all(isinstance(v, str) for v in detail):
        yield path or "non_field_errors", list(detail)
    elif isinstance(detail, list):
        for i, value in enumerate(detail):
            yield from _leaves(value, f"{path}[{i}]")
    elif isinstance(detail, str):
        yield path or "non_field_errors", [detail]


def error_body(error: HomeConsentError, **extra) -> dict:
    return {**error.as_dict(), **extra}


def json_error(error: HomeConsentError, status: int, **extra) -> JsonResponse:
    """For the places outside DRF (middleware): the same body shape as the DRF handler."""
    return JsonResponse(error_body(error, **extra), status=status, json_dumps_params={"ensure_ascii": False})


def _error_for(exc: exceptions.APIException, request) -> tuple[HomeConsentError, dict]:
    if isinstance(exc, (ApiRefusal, InvalidToken, InsufficientScope)):
        return exc.error, {}
    if isinstance(exc, exceptions.NotAuthenticated):
        return TOKEN_MISSING(), {}
    if isinstance(exc, exceptions.AuthenticationFailed):
        return TOKEN_INVALID(), {}
    if isinstance(exc, exceptions.Throttled):
        return RATE_LIMITED(seconds=math.ceil(exc.wait) if exc.wait is not None else 60), {}
    if isinstance(exc, exceptions.PermissionDenied):
        return FORBIDDEN(), {}
    if isinstance(exc, exceptions.NotFound):
        return NOT_FOUND(), {}
    if isinstance(exc, exceptions.MethodNotAllowed):
        return METHOD_NOT_ALLOWED(method=getattr(request, "method", "?")), {}
    if isinstance(exc, exceptions.NotAcceptable):
        return NOT_ACCEPTABLE(), {}
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return UNSUPPORTED_MEDIA_TYPE(media_type=getattr(request, "content_type", "") or "?"), {}
    if isinstance(exc, exceptions.ParseError):
        return BODY_MALFORMED(reason=str(exc.detail)), {}
    if isinstance(exc, FieldProblems):
        return INPUT_INVALID(), {"details": exc.problems}
    if isinstance(exc, exceptions.ValidationError):
        # Raised outside the views' bilingual validation: the one language it was written in.
        return INPUT_INVALID(), {"details": FieldProblems.from_drf(exc.detail).problems}
    return HTTP_ERROR(status=exc.status_code), {}


def api_exception_handler(exc, context):
    """DRF exception handler of the API views: coded JSON bodies and the RFC 6750 headers."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, TokenRequestRefused):
        return Response(exc.as_dict(), status=exc.status, headers={"Cache-Control": "no-store"})
    if not isinstance(exc, exceptions.APIException):
        return None  # a server error: the API middleware answers it in JSON
    error, extra = _error_for(exc, context.get("request"))
    headers = {}
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = f'{BEARER_REALM}, error="invalid_token"'
    elif isinstance(exc, InsufficientScope):
        headers["WWW-Authenticate"] = (
            f'{BEARER_REALM}, error="insufficient_scope", scope="{" ".join(exc.scopes)}"'
        )
    elif getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(math.ceil(exc.wait))
    elif isinstance(exc, ApiRefusal) and exc.error.params.get("retry_after"):
        headers["Retry-After"] = str(exc.error.params["retry_after"])  # a domain rate limit's window
    return Response(error_body(error, **extra), status=exc.status_code, headers=headers)
