"""The published OpenAPI 3 description of the institutions' API (drf-spectacular).

One home for what the schema says about each endpoint: the views stay plain, and each is described
here by an OpenApiViewExtension that targets it by dotted path (request and response shapes, with
examples taken from the national interface's meanings). ApiAutoSchema adds what every protected
endpoint shares: the bearer requirement, the scopes it needs, and the coded error bodies.

Loaded by ClinicapiConfig.ready(); SPECTACULAR_SETTINGS points its hooks here.
"""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers

from . import errors
from .scopes import SCOPES

API_PREFIX = "/api/v1/"


# --- shared bodies -----------------------------------------------------------------------------
class FieldProblemSerializer(serializers.Serializer):
    """One problem of one input field, coded and in both languages like the error itself."""

    code = serializers.CharField(help_text="Stable code of the problem (e.g. date_invalid, required).")
    message = serializers.CharField(help_text="理由（日本語）")
    message_en = serializers.CharField(help_text="The reason in English.")

    class Meta:
        ref_name = "FieldProblem"


class ApiErrorSerializer(serializers.Serializer):
    """Every refusal under /api/: a stable code and the reason in Japanese and English."""

    code = serializers.CharField(help_text="Stable error code (see docs/api-auth.md and docs/api.md).")
    message = serializers.CharField(help_text="理由（日本語）")
    message_en = serializers.CharField(help_text="The reason in English.")
    details = serializers.DictField(
        child=FieldProblemSerializer(many=True),
        required=False,
        help_text="input_invalid only: each field's problems, by the field's name (a path such as "
        "entries[3].birth_date inside a list; non_field_errors for the whole input).",
    )

    class Meta:
        ref_name = "ApiError"


class TokenErrorSerializer(serializers.Serializer):
    """A refused token request: the OAuth 2.0 members (RFC 6749 §5.2) and ours."""

    error = serializers.ChoiceField(
        choices=[
            "invalid_request",
            "unsupported_grant_type",
            "invalid_client",
            "invalid_grant",
            "invalid_scope",
        ]
    )
    error_description = serializers.CharField(help_text="The reason in English.")
    code = serializers.CharField()
    message = serializers.CharField()
    message_en = serializers.CharField()

    class Meta:
        ref_name = "TokenError"


def error_example(name, code, message, message_en, status, **extra):
    return OpenApiExample(
        name,
        value={"code": code, "message": message, "message_en": message_en, **extra},
        status_codes=[str(status)],
        response_only=True,
    )


ERROR_401 = OpenApiResponse(
    ApiErrorSerializer,
    description="No token, or an unknown, expired or revoked token (`WWW-Authenticate: Bearer …`).",
    examples=[
        error_example(
            "token_expired",
            "token_expired",
            "アクセストークンの有効期限が切れています。取り直してください。",
            "The access token has expired; get a new one.",
            401,
        ),
        error_example(
            "token_missing",
            "token_missing",
            "アクセストークンがありません。Authorization: Bearer <トークン> を付けてください。",
            "No access token: send Authorization: Bearer <token>.",
            401,
        ),
    ],
)
ERROR_403 = OpenApiResponse(
    ApiErrorSerializer,
    description='The token lacks a scope this operation needs (`error="insufficient_scope"`).',
    examples=[
        error_example(
            "scope_insufficient",
            "scope_insufficient",
            "この操作にはスコープ「medication.read」が必要です。",
            "This operation needs the scope 'medication.read'.",
            403,
        )
    ],
)
_QUALIFICATION_ONLY = errors.MEDICAL_READ_QUALIFICATION_ONLY(
    institution="さくら接骨院", item="薬剤情報", item_en="medication information"
)
ERROR_403_MEDICAL = OpenApiResponse(
    ApiErrorSerializer,
    description=(
        'The token lacks a scope this operation needs (`error="insufficient_scope"`), or the institution '
        "is qualification-only (資格確認限定型: 柔道整復・あはき施術所, 健診機関) and never reads medical "
        "information: `medical_read_qualification_only`, written to the access log as a refusal."
    ),
    examples=[
        *ERROR_403.examples,
        error_example(
            _QUALIFICATION_ONLY.code,
            _QUALIFICATION_ONLY.code,
            _QUALIFICATION_ONLY.message("ja"),
            _QUALIFICATION_ONLY.message("en"),
            403,
        ),
    ],
)
ERROR_429 = OpenApiResponse(
    ApiErrorSerializer,
    description="Too many requests from this client; wait `Retry-After` seconds.",
    examples=[
        error_example(
            "rate_limited",
            "rate_limited",
            "要求が多すぎます。12秒ほど待ってからやり直してください。",
            "Too many requests; try again in about 12 seconds.",
            429,
        )
    ],
)
ERROR_400 = OpenApiResponse(
    ApiErrorSerializer,
    description="Invalid input: `input_invalid` with `details` per field, or another coded refusal.",
    examples=[
        error_example(
            "input_invalid",
            "input_invalid",
            "入力に誤りがあります（details を見てください）。",
            "The input is not valid (see details).",
            400,
            details={
                "birth_date": [
                    {
                        "code": "date_invalid",
                        "message": "「birth_date」の日付「1943/07/13」は読めません。YYYY-MM-DD（例: 2024-04-01）で"
                        "書いてください。",
                        "message_en": "'birth_date': the date '1943/07/13' cannot be read; write it as "
                        "YYYY-MM-DD, for example 2024-04-01.",
                    }
                ]
            },
        )
    ],
)
ERROR_404 = OpenApiResponse(
    ApiErrorSerializer,
    description="No such record, or nothing this institution may read (no consent in force).",
    examples=[error_example("not_found", "not_found", "見つかりません。", "Not found.", 404)],
)


FHIR_MEDIA = "application/fhir+json"
OPERATION_OUTCOME = {
    "type": "object",
    "description": "FHIR R4 OperationOutcome: issue[0].details.coding[0].code is our error code, details.text the "
    "Japanese message, diagnostics the English one. For input_invalid, one more issue per field "
    "problem: expression the field, details the problem's code and Japanese message, diagnostics "
    "the English one.",
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["resourceType", "issue"],
}


# --- the automatic part ------------------------------------------------------------------------
class ApiAutoSchema(AutoSchema):
    """Adds to every protected endpoint (clinicapi.views.ApiView) its scopes and shared errors."""

    def _protected(self) -> bool:
        from .views import ApiView

        return isinstance(self.view, ApiView)

    def _required_scopes(self) -> list[str]:
        required = getattr(self.view, "required_scopes", ())
        if isinstance(required, dict):
            required = required.get(self.method, ())
        return sorted(required)

    def get_description(self):
        description = super().get_description() or ""
        if getattr(self.view, "reads_personal_data", None) is not False and type(
            self.view
        ).__module__.endswith("data_views"):
            description = (
                f"{description}\n\nConsent is checked on every request: a patient without a consent in "
                "force here (or outside its items) answers 404 `not_found`, like an unknown one. Every "
                "read is written to the access log the patient sees."
            ).strip()
        scopes = self._required_scopes()
        if self._protected() and scopes:
            listed = ", ".join(f"`{s}` ({SCOPES.get(s, '')})" for s in scopes)
            description = f"{description}\n\n**Required scopes:** {listed}".strip()
        return description

    def get_tags(self):
        tags = getattr(self.view, "schema_tags", None)
        return list(tags) if tags else super().get_tags()

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response" or not self._protected():
            return responses
        shared = {"401": ERROR_401, "429": ERROR_429}
        if self._required_scopes():
            shared["403"] = ERROR_403_MEDICAL if getattr(self.view, "medical_item", "") else ERROR_403
        for status, response in shared.items():
            if status not in responses:
                responses[status] = self._get_response_for_code(response, status, direction=direction)
        if self._serves_fhir():
            # Asked for FHIR, a refusal is an OperationOutcome carrying the same code (clinicapi.fhir).
            for status, response in responses.items():
                if status >= "400" and "content" in response:
                    response["content"][FHIR_MEDIA] = {"schema": OPERATION_OUTCOME}
        return responses

    def _map_basic_serializer(self, serializer, direction):
        self._direction = direction
        return super()._map_basic_serializer(serializer, direction)

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # DRF refuses NUL in text input: an input text field stating no pattern of its own gets NO_NUL.
        # After the library's validators, which would make a blank-allowing field with a pattern a oneOf.
        if (
            getattr(self, "_direction", None) == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            from .serializers import NO_NUL

            schema["pattern"] = NO_NUL

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # A body that is one of several (each with its required fields) is required as much as they are.
        return schema, required or isinstance(force_instance(serializer), PolymorphicProxySerializer)

    def _serves_fhir(self) -> bool:
        from .fhir import FhirJsonRenderer

        return any(isinstance(r, FhirJsonRenderer) for r in self.view.get_renderers())


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "clinicapi.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An access token from `POST /api/v1/auth/token` (client_credentials with a private_key_jwt "
                "client assertion, RFC 7523). Tokens live 5 minutes; get a new one rather than refreshing. "
                "Scopes: " + ", ".join(f"`{name}`" for name in SCOPES)
            ),
        }


def keep_api_paths(endpoints, **kwargs):
    """Preprocessing hook: only the institutions' API (/api/v1/…), not the schema and docs views, nor
    the /fhir/ twins of the data views and the FHIR REST API (docs/api.md and docs/fhir.md describe them)."""
    skip = ("schema", "docs", "fhir/")
    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if path.startswith(API_PREFIX) and not any(path.startswith(API_PREFIX + s) for s in skip)
    ]


# --- token and whoami --------------------------------------------------------------------------
def _scope_pattern() -> str:
    one = "(" + "|".join(re.escape(scope) for scope in SCOPES) + ")"
    return f"^{one}( {one})*$"


@extend_schema_field({"type": "string", "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"})
class _CompactJwsField(serializers.CharField):
    """A compact JWS: three base64url parts."""


@extend_schema_field({"type": "string", "pattern": _scope_pattern()})
class _ScopeField(serializers.CharField):
    """Space-separated scopes of the API's vocabulary (clinicapi.scopes)."""


TOKEN_REQUEST = inline_serializer(
    "Token",
    {
        "grant_type": serializers.ChoiceField(choices=["client_credentials"]),
        "client_assertion_type": serializers.ChoiceField(
            choices=["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
        ),
        "client_assertion": _CompactJwsField(
            help_text="A compact JWS signed with a registered key: header alg (RS384, ES384, ES256, RS256, PS384) "
            "and kid; claims iss = sub = client_id, aud = the token URL, exp at most 5 minutes ahead, a fresh jti."
        ),
        "scope": _ScopeField(help_text="Space-separated scopes, all allowed to the client."),
        "client_id": serializers.CharField(
            required=False, help_text="Optional; must equal the assertion's iss."
        ),
    },
)
TOKEN_RESPONSE = inline_serializer(
    "TokenResponse",
    {
        "access_token": serializers.CharField(),
        "token_type": serializers.ChoiceField(choices=["Bearer"]),
        "expires_in": serializers.IntegerField(help_text="Seconds."),
        "scope": serializers.CharField(),
    },
)
WHOAMI_RESPONSE = inline_serializer(
    "WhoAmI",
    {
        "institution_code": serializers.CharField(help_text="医療機関等コード (10 digits)"),
        "client_id": serializers.CharField(),
        "scopes": serializers.ListField(child=serializers.CharField()),
        "expires_at": serializers.DateTimeField(),
    },
)


def _documented(target, method, **schema):
    """An OpenApiViewExtension describing one method of one view (by dotted path): extend_schema's
    arguments, for that method only."""

    class Extension(OpenApiViewExtension):
        target_class = target

        def view_replacement(self):
            @extend_schema_view(**{method: extend_schema(**schema)})
            class Documented(self.target_class):
                pass

            return Documented

    Extension.__name__ = Extension.__qualname__ = target.rsplit(".", 1)[1] + "Schema"
    return Extension


TOKEN_SCHEMA = _documented(
    "clinicapi.views.TokenView",
    "post",
    operation_id="token",
    tags=["auth"],
    summary="Get an access token (client_credentials + private_key_jwt)",
    request={"application/x-www-form-urlencoded": TOKEN_REQUEST},
    responses={
        200: OpenApiResponse(TOKEN_RESPONSE, description="A bearer token (`Cache-Control: no-store`)."),
        400: OpenApiResponse(
            TokenErrorSerializer,
            description="invalid_request, unsupported_grant_type, invalid_grant or invalid_scope.",
        ),
        401: OpenApiResponse(
            TokenErrorSerializer,
            description="invalid_client: unknown or revoked client, "
            "unknown key, refused algorithm, bad signature.",
        ),
        429: ERROR_429,
    },
    auth=[],
    examples=[
        OpenApiExample(
            "request",
            value={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": "eyJhbGciOiJFUzM4NCIsImtpZCI6ImVoci0xIiwidHlwIjoiSldUIn0.eyJpc3Mi…",
                "scope": "qualification.read consent.read",
            },
            request_only=True,
        ),
        OpenApiExample(
            "token",
            value={
                "access_token": "6i3Jm0q2tGx0zL6o5bq7ZkQ5r9VJ1d2oYH8sQW4nYtA",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "consent.read qualification.read",
            },
            response_only=True,
            status_codes=["200"],
        ),
        OpenApiExample(
            "assertion_replayed",
            value={
                "error": "invalid_grant",
                "error_description": "This assertion (jti) has already been used; make a new one with "
                "a fresh jti for each request.",
                "code": "assertion_replayed",
                "message": "このアサーション（jti）はすでに使われています。要求ごとに新しい jti で作ってください。",
                "message_en": "This assertion (jti) has already been used; make a new one with a fresh "
                "jti for each request.",
            },
            response_only=True,
            status_codes=["400"],
        ),
        OpenApiExample(
            "client_key_unknown",
            value={
                "error": "invalid_client",
                "error_description": "No key with kid 'k1' is registered for a client 'x'.",
                "code": "client_key_unknown",
                "message": "クライアント「x」に kid「k1」の鍵は登録されていません。",
                "message_en": "No key with kid 'k1' is registered for a client 'x'.",
            },
            response_only=True,
            status_codes=["401"],
        ),
    ],
)


WHOAMI_SCHEMA = _documented(
    "clinicapi.views.WhoAmIView",
    "get",
    operation_id="whoami",
    tags=["auth"],
    summary="Which client and institution this token speaks for",
    responses={200: WHOAMI_RESPONSE},
    examples=[
        OpenApiExample(
            "whoami",
            value={
                "institution_code": "0110113719",
                "client_id": "Zq3…",
                "scopes": ["consent.read", "qualification.read"],
                "expires_at": "2026-11-26T00:35:00+09:00",
            },
            response_only=True,
        )
    ],
)


API_DESCRIPTION = """\
The private API through which institution systems (EHRs, pharmacy and visiting-nurse systems) read
the eligibility (資格情報) and, where the patient consented, the medication, treatment and checkup
information of their consented patients (居宅同意取得型 online qualification confirmation).

**Authentication.** OAuth 2.0 `client_credentials` with a `private_key_jwt` client assertion
(SMART Backend Services style): register a public key (JWKS) with the operator, sign a JWT
assertion (`iss` = `sub` = client id, `aud` = the token URL, `exp` ≤ 5 minutes, a fresh `jti`),
`POST /api/v1/auth/token`, and send the access token as `Authorization: Bearer …`.
A scope opens an endpoint family; what a read returns is still decided by the patient's consent on
every request, and every read is written to the access log the patient sees.

**Errors.** Every refusal answers JSON `{"code", "message" (Japanese), "message_en"}`; the token
endpoint adds the OAuth members `error` and `error_description`. `input_invalid` adds `details`:
each field's problems as `[{"code", "message", "message_en"}]`.

**Times** are Japan time with the offset and whole seconds (`2026-11-26T02:31:05+09:00`); dates are
`YYYY-MM-DD`.

**FHIR.** Endpoints marked so also answer FHIR R4 (JP Core identifiers) with
`Accept: application/fhir+json`; see docs/api.md.

A reference client (`python -m clinicapi.client`, standard library and `cryptography` only) does
keys, tokens and the reads from a shell.
"""


def describe_api(result, generator, request, public):
    """Postprocessing hook: the long description, the tags in reading order, and the 404 that an
    unknown ?format= gets on every operation that takes one."""
    result["info"]["description"] = API_DESCRIPTION
    for path in result.get("paths", {}).values():
        for operation in path.values():
            takes_format = any(
                p.get("name") == "format" and p.get("in") == "query" for p in operation.get("parameters", [])
            )
            if takes_format and "404" not in operation.get("responses", {}):
                operation["responses"]["404"] = {
                    "description": "An unknown ?format= (json and fhir are known).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}},
                }
    token = result.get("paths", {}).get(API_PREFIX + "auth/token", {}).get("post")
    if token is not None:
        token["security"] = []  # the token endpoint authenticates the client by its assertion, not a bearer
    used = {
        tag for path in result.get("paths", {}).values() for op in path.values() for tag in op.get("tags", [])
    }
    order = ["auth", "patients", "eligibility", "medical", "batch", "consents"]
    result["tags"] = [{"name": t} for t in order if t in used] + [
        {"name": t} for t in sorted(used - set(order))
    ]
    return result


# --- the schema and its docs pages -------------------------------------------------------------
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView  # noqa: E402


class SchemaView(SpectacularAPIView):
    """GET /api/v1/schema — the OpenAPI 3 document (YAML; JSON with ?format=json)."""


# The docs pages run only this server's scripts: Redoc and Swagger UI inject styles and use data: images
# and a blob: worker (search); everything else, including Redoc's off-site logo, stays blocked.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


class _DocsPage:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class DocsView(_DocsPage, SpectacularRedocView):
    """GET /api/v1/docs — the readable reference (Redoc, served from our own static files)."""

    template_name = "clinicapi/api_docs.html"
    url_name = "clinicapi:schema"


class DocsTryView(_DocsPage, SpectacularSwaggerSplitView):
    """GET /api/v1/docs/try — Swagger UI, to try calls with a token (assets and its start-up script
    served by this server: ?script gives the script)."""

    template_name = "clinicapi/api_docs_try.html"
    url_name = "clinicapi:schema"


# --- the data endpoints (clinicapi.data_views) ---------------------------------------------------
from drf_spectacular.types import OpenApiTypes  # noqa: E402
from drf_spectacular.utils import OpenApiParameter  # noqa: E402

from . import serializers as inputs  # noqa: E402


def _doc(name, fields):
    return inline_serializer(name, fields)


def _s(**kw):
    return serializers.CharField(**kw)


def _nullable(field_class=serializers.CharField, **kw):
    return field_class(allow_null=True, **kw)


CONSENT = _doc(
    "ConsentSummary",
    {
        "consent_id": serializers.IntegerField(),
        "kind": serializers.ChoiceField(
            choices=["home_visit", "telehealth", "qualification_only", "disaster"]
        ),
        "items": serializers.ListField(
            child=serializers.CharField(),
            help_text="qualification, medication, treatment, checkup, operation, limit_certificate",
        ),
        "given_at": serializers.DateTimeField(),
        "available_until": _nullable(serializers.DateTimeField),
        "visit_date": _nullable(serializers.DateField),
        "status": serializers.ChoiceField(choices=["active", "superseded", "cancelled", "expired"]),
        "ended_at": _nullable(serializers.DateTimeField),
        "ended_by": serializers.CharField(
            allow_blank=True, help_text="patient, institution, superseded, expired or ''"
        ),
    },
)
QUALIFICATION = _doc(
    "Qualification",
    {
        name: _s(allow_blank=True, help_text=national)
        for name, national in (
            ("insurer_number", "InsurerNumber 保険者番号"),
            ("insurer_name", "InsurerName"),
            ("insured_card_symbol", "InsuredCardSymbol 記号"),
            ("insured_identification_number", "InsuredIdentificationNumber 番号"),
            ("insured_branch_number", "InsuredBranchNumber 枝番"),
            ("insured_card_classification", "InsuredCardClassification"),
            ("personal_family_classification", "PersonalFamilyClassification (1 本人, 2 家族)"),
            ("insured_name", "InsuredName"),
            ("name", "Name"),
            ("name_kana", "NameKana"),
            ("sex1", "Sex1 (1 男, 2 女)"),
            ("birthdate", "Birthdate (YYYY-MM-DD)"),
            ("address", "Address"),
            ("post_number", "PostNumber"),
            ("qualification_date", "QualificationDate 資格取得日"),
            ("disqualification_date", "DisqualificationDate 資格喪失日, '' while valid"),
            ("insured_card_valid_date", "InsuredCardValidDate"),
            ("insured_card_expiration_date", "InsuredCardExpirationDate"),
            ("insured_partial_contribution_ratio", "InsuredPartialContributionRatio (010, 020, 030)"),
            ("preschool_classification", "PreschoolClassification ('1' 未就学 or '')"),
        )
    },
)
ELDERLY = _doc(
    "ElderlyRecipientCertificateInfo",
    {
        n: _s(allow_blank=True)
        for n in (
            "elderly_recipient_certificate_date",
            "elderly_recipient_valid_start_date",
            "elderly_recipient_valid_end_date",
            "elderly_recipient_contribution_ratio",
        )
    },
)
LIMIT = _doc(
    "LimitApplicationCertificateRelatedInfo",
    {
        n: _s(allow_blank=True)
        for n in (
            "limit_application_certificate_classification_flag",
            "limit_application_certificate_classification",
            "limit_application_certificate_valid_start_date",
            "limit_application_certificate_valid_end_date",
        )
    },
)
DISEASE = _doc(
    "SpecificDiseasesCertificate",
    {
        **{
            n: _s(allow_blank=True)
            for n in (
                "specific_diseases_disease_category",
                "specific_diseases_disease_category_name",
                "specific_diseases_valid_start_date",
                "specific_diseases_valid_end_date",
            )
        },
        "specific_diseases_self_pay": serializers.IntegerField(),
    },
)
PUBLIC_EXPENSE = _doc(
    "PublicExpenseCertificate",
    {
        "public_expense_law_number": _s(
            help_text="法別番号: 10 結核, 12 生活保護 医療扶助, 15 更生医療, 16 育成医療, 21 精神通院, "
            "52 小児慢性特定疾病, 54 難病 特定医療費"
        ),
        "public_expense_law_name": _s(help_text="The programme's name"),
        "public_expense_payer_number": _s(help_text="公費負担者番号: 8 digits, the last a check digit"),
        "public_expense_recipient_number": _s(
            allow_blank=True,
            help_text="受給者番号: 7 digits, the last a check digit; '' where none is issued",
        ),
        "public_expense_valid_start_date": _s(help_text="YYYY-MM-DD"),
        "public_expense_valid_end_date": _s(allow_blank=True, help_text="YYYY-MM-DD, '' while open-ended"),
        "public_expense_monthly_self_pay_limit": serializers.IntegerField(
            allow_null=True, help_text="自己負担上限月額 in 円; null where the programme sets none"
        ),
        "public_expense_designated_institutions": serializers.ListField(
            child=_s(),
            help_text="医療機関等コード of the designated institutions; empty: not limited to named ones",
        ),
    },
)


def eligibility_fields(required=True) -> dict:
    """The eligibility answer's own fields (fresh field instances for each serializer that holds them)."""
    return {
        "qualification_validity": serializers.ChoiceField(
            choices=["1", "2", "3", "4", "5"],
            required=required,
            help_text=(
                "QualificationValidity: 1 valid, 2 invalid (lost), 3 invalid (a newer qualification exists), "
                "4 no such qualification, 5 several match"
            ),
        ),
        "reason_of_loss": _s(
            allow_blank=True,
            required=required,
            help_text="ReasonOfLoss: 01 death, 02 public assistance, 03 other insurance acquired, 99 other",
        ),
        "reference_date": serializers.DateField(required=required),
        "qualification": QUALIFICATION.__class__(allow_null=True, required=required),
        "elderly_recipient_certificate_info": ELDERLY.__class__(allow_null=True, required=required),
        "specific_diseases_certificate_list": DISEASE.__class__(many=True, required=required),
        "public_expense_certificate_list": PUBLIC_EXPENSE.__class__(
            many=True,
            required=required,
            help_text="公費 certificates in force on the reference date (with a valid qualification; they "
            "travel with it, under the qualification consent item)",
        ),
        "limit_application_certificate_related_info": LIMIT.__class__(
            allow_null=True,
            required=False,
            help_text=("Present only when the consent includes limit_certificate (限度額適用認定証関連情報)"),
        ),
    }


ELIGIBILITY = _doc(
    "Eligibility",
    {
        "process_execution_time": serializers.DateTimeField(),
        "reference_classification": serializers.ChoiceField(
            choices=["1", "2"], help_text="1 by consent (card), 2 by insurance-card numbers (再照会)"
        ),
        "segment_of_result": serializers.ChoiceField(choices=["1"]),
        "patient_id": _nullable(help_text="The patient id at this institution; null when nobody answers"),
        "consent": CONSENT.__class__(allow_null=True),
        **eligibility_fields(),
    },
)
PATIENTS = _doc(
    "ConsentedPatients",
    {
        "process_execution_time": serializers.DateTimeField(),
        "count": serializers.IntegerField(),
        "next_cursor": _nullable(help_text="Pass as cursor= for the next page; null on the last page"),
        "patients": _doc(
            "ConsentedPatient",
            {
                "patient_id": _s(help_text="Opaque, per institution, stable (26 characters, a-z and 2-7)"),
                **{
                    name: field(
                        required=False,
                        help_text="Only while the consent is in force: absent for an ended or "
                        "expired consent, whose row carries the patient id and the consent's terms alone",
                    )
                    for name, field in (
                        ("name", _s),
                        ("name_kana", _s),
                        ("sex1", _s),
                        ("birthdate", serializers.DateField),
                    )
                },
                "consent": CONSENT.__class__(),
            },
        ).__class__(many=True),
    },
)
MEDICAL_HEADER = {
    "process_execution_time": serializers.DateTimeField(),
    "patient_id": _s(),
    "consent": CONSENT.__class__(),
    "from": serializers.DateField(),
    "to": serializers.DateField(),
    "count": serializers.IntegerField(),
}
MEDICATION_RECORD = _doc(
    "MedicationRecord",
    {
        "source": serializers.ChoiceField(choices=["claims", "e_prescription", "dispensing"]),
        "dispensing_date": serializers.DateField(),
        "prescription_date": _nullable(serializers.DateField),
        "dispensing_institution_code": _s(allow_blank=True),
        "dispensing_institution_name": _s(allow_blank=True),
        "prescribing_institution_code": _s(allow_blank=True),
        "prescribing_institution_name": _s(allow_blank=True),
        "in_hospital": serializers.BooleanField(),
        "drug_code": _s(help_text="receipt-system drug code (9 digits)"),
        "yj_code": _s(allow_blank=True),
        "drug_name": _s(),
        "ingredient_name": _s(allow_blank=True),
        "quantity": _nullable(help_text="decimal as text"),
        "unit": _s(allow_blank=True),
        "usage": _s(allow_blank=True),
        "days": serializers.IntegerField(),
        "special_instructions": _s(allow_blank=True),
    },
)
MEDICATION = _doc(
    "Medication",
    {
        **MEDICAL_HEADER,
        "months": _doc(
            "MedicationMonth",
            {"month": _s(help_text="YYYY-MM"), "records": MEDICATION_RECORD.__class__(many=True)},
        ).__class__(many=True),
    },
)
TREATMENT = _doc(
    "Treatment",
    {
        **MEDICAL_HEADER,
        "records": _doc(
            "TreatmentRecord",
            {
                "treatment_date": serializers.DateField(),
                "institution_code": _s(allow_blank=True),
                "institution_name": _s(allow_blank=True),
                "inpatient": serializers.BooleanField(),
                "procedure_code": _s(),
                "procedure_name": _s(),
                "times": serializers.IntegerField(),
            },
        ).__class__(many=True),
    },
)
CHECKUPS = _doc(
    "Checkups",
    {
        **MEDICAL_HEADER,
        "checkups": _doc(
            "Checkup",
            {
                "checkup_date": serializers.DateField(),
                "institution_name": _s(allow_blank=True),
                "items": _doc(
                    "CheckupItem",
                    {
                        "item_code": _s(help_text="17-character 特定健診 item code"),
                        "item_name": _s(),
                        "value": _s(allow_blank=True),
                        "unit": _s(allow_blank=True),
                    },
                ).__class__(many=True),
            },
        ).__class__(many=True),
    },
)
CANCELLED = _doc("Cancelled", {"cancelled": CONSENT.__class__(many=True)})
BATCH_HEADER = {
    "reception_number": _s(help_text="20 digits"),
    "submitted_at": serializers.DateTimeField(),
    "reference_date": serializers.DateField(),
    "expires_at": serializers.DateTimeField(),
    "entry_count": serializers.IntegerField(),
    "normal_count": serializers.IntegerField(),
    "error_count": serializers.IntegerField(),
}
BATCH_RECEIVED = _doc("BatchReceived", BATCH_HEADER)
BATCH_ENTRY = _doc(
    "BatchEntry",
    {
        "index": serializers.IntegerField(),
        "segment_of_result": serializers.ChoiceField(
            choices=["1", "9"], help_text="1 processed, 9 the keys are not valid"
        ),
        "error_code": _s(allow_blank=True),
        "patient_id": _nullable(required=False),
        **eligibility_fields(required=False),
        "error_message": _s(required=False),
        "error_message_en": _s(required=False),
        "errors": serializers.ListField(child=serializers.DictField(), required=False),
    },
)
BATCH = _doc(
    "BatchResults",
    {
        **BATCH_HEADER,
        "offset": serializers.IntegerField(),
        "limit": serializers.IntegerField(),
        "next_offset": _nullable(serializers.IntegerField),
        "entries": BATCH_ENTRY.__class__(many=True),
    },
)

FHIR_BUNDLE = OpenApiResponse(
    {
        "type": "object",
        "description": "A FHIR R4 searchset Bundle (JP Core identifiers; see docs/api.md)",
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string"},
            "total": {"type": "integer"},
            "entry": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["resourceType", "type"],
    },
    description="FHIR R4 (Accept: application/fhir+json).",
)
PATIENT_ID = OpenApiParameter(
    "patient_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The patient id from GET /patients (opaque, this institution's only)",
)
CONSENT_EXAMPLE = {
    "consent_id": 12,
    "kind": "home_visit",
    "items": ["checkup", "medication", "qualification"],
    "given_at": "2026-11-20T10:04:11+09:00",
    "available_until": None,
    "visit_date": None,
    "status": "active",
    "ended_at": None,
    "ended_by": "",
}
QUALIFICATION_EXAMPLE = {
    "insurer_number": "39131016",
    "insurer_name": "東京都後期高齢者医療広域連合",
    "insured_card_symbol": "9999",
    "insured_identification_number": "00000103",
    "insured_branch_number": "00",
    "insured_card_classification": "03",
    "personal_family_classification": "1",
    "insured_name": "鈴木 一郎",
    "name": "鈴木 一郎",
    "name_kana": "スズキ イチロウ",
    "sex1": "1",
    "birthdate": "1943-07-13",
    "address": "東京都世田谷区…",
    "post_number": "1540001",
    "qualification_date": "2018-07-13",
    "disqualification_date": "",
    "insured_card_valid_date": "2025-08-01",
    "insured_card_expiration_date": "2027-07-31",
    "insured_partial_contribution_ratio": "010",
    "preschool_classification": "",
}
# A body of insurance-card numbers and birth date (re-query, 資格確認書).
KEYS_EXAMPLE = OpenApiExample(
    "keys",
    request_only=True,
    value={
        "insurer_number": "39131016",
        "symbol": "9999",
        "number": "00000103",
        "branch": "00",
        "birth_date": "1943-07-13",
    },
)
ELIGIBILITY_EXAMPLE = {
    "process_execution_time": "2026-11-25T09:30:00+09:00",
    "reference_classification": "1",
    "segment_of_result": "1",
    "patient_id": "kapw2v6b5qtw3nhgrwwscrl3fu",
    "consent": CONSENT_EXAMPLE,
    "qualification_validity": "1",
    "reason_of_loss": "",
    "reference_date": "2026-11-25",
    "qualification": QUALIFICATION_EXAMPLE,
    "elderly_recipient_certificate_info": None,
    "specific_diseases_certificate_list": [],
}
HEADER_EXAMPLE = {
    "process_execution_time": "2026-11-25T09:30:00+09:00",
    "patient_id": "kapw2v6b5qtw3nhgrwwscrl3fu",
    "consent": CONSENT_EXAMPLE,
}


def _example(name, value, status="200"):
    return OpenApiExample(name, value=value, response_only=True, status_codes=[status])


def _with_fhir(serializer, description=""):
    return {
        (200, "application/json"): OpenApiResponse(serializer, description=description),
        (200, FHIR_MEDIA): FHIR_BUNDLE,
    }


VIEWS = "clinicapi.data_views."
DATA_SCHEMAS = [
    _documented(
        VIEWS + "ConsentedPatientsView",
        "get",
        operation_id="patients_list",
        tags=["patients"],
        summary="Consented patients (home visit, telehealth)",
        parameters=[inputs.ConsentedPatientsQuery],
        responses={**_with_fhir(PATIENTS), 400: ERROR_400},
        examples=[
            _example(
                "patients",
                {
                    "process_execution_time": "2026-11-25T09:30:00+09:00",
                    "count": 1,
                    "next_cursor": None,
                    "patients": [
                        {
                            "patient_id": "kapw2v6b5qtw3nhgrwwscrl3fu",
                            "name": "鈴木 一郎",
                            "name_kana": "スズキ イチロウ",
                            "sex1": "1",
                            "birthdate": "1943-07-13",
                            "consent": CONSENT_EXAMPLE,
                        }
                    ],
                },
            )
        ],
    ),
    _documented(
        VIEWS + "EligibilityView",
        "get",
        operation_id="eligibility",
        tags=["eligibility"],
        summary="Eligibility (資格情報) of a consented patient",
        parameters=[PATIENT_ID, inputs.EligibilityQuery],
        responses={**_with_fhir(ELIGIBILITY), 400: ERROR_400, 404: ERROR_404},
        examples=[_example("eligibility", ELIGIBILITY_EXAMPLE)],
    ),
    _documented(
        VIEWS + "RequeryView",
        "post",
        operation_id="requery",
        tags=["eligibility"],
        summary="Re-query (再照会) by insurance-card numbers and birth date",
        request=inputs.RequeryInput,
        responses={
            **_with_fhir(
                ELIGIBILITY, "validity 4 and no patient id when nobody this institution may read answers"
            ),
            400: ERROR_400,
        },
        examples=[
            KEYS_EXAMPLE,
            _example("requery", {**ELIGIBILITY_EXAMPLE, "reference_classification": "2"}),
        ],
    ),
    _documented(
        VIEWS + "MedicationView",
        "get",
        operation_id="medication",
        tags=["medical"],
        summary="Medication information (薬剤情報) by dispensing month",
        parameters=[PATIENT_ID, inputs.MedicationQuery],
        responses={**_with_fhir(MEDICATION), 400: ERROR_400, 404: ERROR_404},
        examples=[
            _example(
                "medication",
                {
                    **HEADER_EXAMPLE,
                    "from": "2026-09-01",
                    "to": "2026-11-25",
                    "count": 1,
                    "months": [
                        {
                            "month": "2026-11",
                            "records": [
                                {
                                    "source": "dispensing",
                                    "dispensing_date": "2026-11-18",
                                    "prescription_date": "2026-11-18",
                                    "dispensing_institution_code": "1341234563",
                                    "dispensing_institution_name": "さくら薬局",
                                    "prescribing_institution_code": "1311234560",
                                    "prescribing_institution_name": "みどり訪問クリニック",
                                    "in_hospital": False,
                                    "drug_code": "612170710",
                                    "yj_code": "2171022F2025",
                                    "drug_name": "ノルバスク錠５ｍｇ",
                                    "ingredient_name": "アムロジピンベシル酸塩",
                                    "quantity": "1",
                                    "unit": "錠",
                                    "usage": "1日1回朝食後",
                                    "days": 28,
                                    "special_instructions": "",
                                }
                            ],
                        }
                    ],
                },
            )
        ],
    ),
    _documented(
        VIEWS + "TreatmentView",
        "get",
        operation_id="treatment",
        tags=["medical"],
        summary="Treatment information (診療情報): procedures, no diagnoses",
        parameters=[PATIENT_ID, inputs.DateRangeQuery],
        responses={**_with_fhir(TREATMENT), 400: ERROR_400, 404: ERROR_404},
        examples=[
            _example(
                "treatment",
                {
                    **HEADER_EXAMPLE,
                    "from": "2025-11-25",
                    "to": "2026-11-25",
                    "count": 1,
                    "records": [
                        {
                            "treatment_date": "2026-11-11",
                            "institution_code": "1311234560",
                            "institution_name": "みどり訪問クリニック",
                            "inpatient": False,
                            "procedure_code": "114001110",
                            "procedure_name": "在宅患者訪問診療料",
                            "times": 1,
                        }
                    ],
                },
            )
        ],
    ),
    _documented(
        VIEWS + "CheckupsView",
        "get",
        operation_id="checkups",
        tags=["medical"],
        summary="Specific health checkups (特定健診等情報)",
        parameters=[PATIENT_ID, inputs.DateRangeQuery],
        responses={**_with_fhir(CHECKUPS), 400: ERROR_400, 404: ERROR_404},
        examples=[
            _example(
                "checkups",
                {
                    **HEADER_EXAMPLE,
                    "from": "2021-11-25",
                    "to": "2026-11-25",
                    "count": 2,
                    "checkups": [
                        {
                            "checkup_date": "2026-06-10",
                            "institution_name": "区民健診センター",
                            "items": [
                                {
                                    "item_code": "3D046000001906202",
                                    "item_name": "HbA1c（NGSP）",
                                    "value": "5.9",
                                    "unit": "%",
                                },
                                {
                                    "item_code": "1A020000000191111",
                                    "item_name": "尿糖",
                                    "value": "－",
                                    "unit": "",
                                },
                            ],
                        }
                    ],
                },
            )
        ],
    ),
    _documented(
        VIEWS + "CancelConsentView",
        "post",
        operation_id="consent_cancel",
        tags=["consents"],
        summary="Cancel this institution's consent(s) for a patient",
        parameters=[PATIENT_ID],
        request=inputs.CancelInput,
        responses={200: CANCELLED, 400: ERROR_400, 404: ERROR_404},
        examples=[
            OpenApiExample("one kind", request_only=True, value={"kind": "home_visit"}),
            _example(
                "cancelled",
                {
                    "cancelled": [
                        {
                            **CONSENT_EXAMPLE,
                            "status": "cancelled",
                            "ended_at": "2026-11-25T09:31:02+09:00",
                            "ended_by": "institution",
                        }
                    ]
                },
            ),
        ],
    ),
    _documented(
        VIEWS + "BatchSubmitView",
        "post",
        operation_id="batch_submit",
        tags=["batch"],
        summary="Batch pre-check (一括照会): submit up to 10,000 search keys",
        request=inputs.BatchInput,
        responses={
            201: BATCH_RECEIVED,
            400: ERROR_400,
            413: OpenApiResponse(
                ApiErrorSerializer,
                description=("More than 10,000 entries, or a body over the batch size limit"),
            ),
        },
        examples=[
            OpenApiExample(
                "keys",
                request_only=True,
                value={
                    "on": "2026-11-26",
                    "entries": [
                        {
                            "insurer_number": "39131016",
                            "symbol": "9999",
                            "number": "00000103",
                            "branch": "00",
                            "birth_date": "1943-07-13",
                        }
                    ],
                },
            ),
            _example(
                "received",
                {
                    "reception_number": "93076545393925143690",
                    "submitted_at": "2026-11-25T18:00:00+09:00",
                    "reference_date": "2026-11-26",
                    "expires_at": "2026-12-02T18:00:00+09:00",
                    "entry_count": 1,
                    "normal_count": 1,
                    "error_count": 0,
                },
                "201",
            ),
        ],
    ),
    _documented(
        VIEWS + "BatchResultsView",
        "get",
        operation_id="batch_results",
        tags=["batch"],
        summary="Batch results by reception number (one page)",
        parameters=[
            OpenApiParameter("reception_number", OpenApiTypes.STR, OpenApiParameter.PATH),
            inputs.BatchPageQuery,
        ],
        responses={200: BATCH, 400: ERROR_400, 404: ERROR_404},
        examples=[
            _example(
                "results",
                {
                    "reception_number": "93076545393925143690",
                    "submitted_at": "2026-11-25T18:00:00+09:00",
                    "reference_date": "2026-11-26",
                    "expires_at": "2026-12-02T18:00:00+09:00",
                    "entry_count": 1,
                    "normal_count": 1,
                    "error_count": 0,
                    "offset": 0,
                    "limit": 1000,
                    "next_offset": None,
                    "entries": [
                        {
                            "index": 0,
                            "segment_of_result": "1",
                            "error_code": "",
                            "patient_id": "kapw2v6b5qtw3nhgrwwscrl3fu",
                            **{k: v for k, v in ELIGIBILITY_EXAMPLE.items() if k in eligibility_fields()},
                        }
                    ],
                },
            )
        ],
    ),
]
