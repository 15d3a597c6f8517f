"""Disaster mode (災害時) for institution systems: the same search and views as the console's 災害時閲覧,
under the scope `disaster.read` and the same rules (homeconsent.special_access.services).

    POST /api/v1/disaster/search               find one patient living in an open disaster scope
    GET  /api/v1/disaster/encounters/{encounter}?item=medication|checkup|qualification

Views translate HTTP only; the services decide, read and log. Emergency viewing (救急時) is for named
hospital staff in the console, not for systems.
"""

import base64

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Sex
from homeconsent.special_access import services
from homeconsent.special_access.models import DisasterConsent, EncounterBasis, SearchMethod

from . import errors, presenters
from . import serializers as inputs
from .data_views import DataView, _valid
from .schema import (
    ERROR_400,
    ERROR_404,
    ApiErrorSerializer,
    _doc,
    _documented,
    _example,
    _s,
    eligibility_fields,
)

# Refusal code → HTTP status. Not available to this institution answers as an unknown patient would.
STATUS = {
    services.NOT_AVAILABLE.code: 404,
    services.NO_MATCH.code: 404,
    services.ENCOUNTER_ENDED.code: 404,
    services.AMBIGUOUS.code: 409,
    services.RATE_LIMITED.code: 429,
}


# A certificate as the reader bridge hands it over: padded base64 (RFC 4648) of the DER, nothing else.
CERTIFICATE_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$"


@extend_schema_field({"type": "string", "format": "byte", "pattern": CERTIFICATE_PATTERN, "maxLength": 8000})
class CertificateField(serializers.CharField):
    """Base64 DER of the card's user-authentication certificate (read as it is: no trimming)."""

    def __init__(self, **kwargs):
        super().__init__(
            max_length=8000, trim_whitespace=False, validators=[RegexValidator(CERTIFICATE_PATTERN)], **kwargs
        )


@extend_schema_field({"type": "string", "pattern": inputs.NOT_BLANK, "minLength": 1, "maxLength": 100})
class SearchNameField(serializers.CharField):
    """A name to search by: spaces around it do not count, and some other character must remain."""


class DisasterSearchInput(serializers.Serializer):
    """What every search carries: how the patient is looked for, and the consent as it stands. Each
    method's own serializer (SEARCH_INPUTS) adds the fields that method needs."""

    method = serializers.ChoiceField(
        choices=SearchMethod.choices,
        help_text="attributes (name, birth date, sex, address), insurer_keys, or card (its certificate, read "
        "without the PIN)",
    )
    reason = serializers.ChoiceField(
        choices=DisasterConsent.choices, help_text="oral consent, or why it could not be given"
    )
    reason_text = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="what the reason is: required, not blank, when reason is other",
    )


def _method(value: str, help_text: str):
    return serializers.ChoiceField(choices=[(value, SearchMethod(value).label)], help_text=help_text)


class DisasterAttributesSearch(DisasterSearchInput):
    """Found by the four basic attributes: name and birth date, narrowed by sex and address."""

    method = _method(SearchMethod.ATTRIBUTES, "the four basic attributes (基本4情報)")
    name = SearchNameField(
        max_length=100, help_text="kanji or kana; full-/half-width, hiragana and spaces do not matter"
    )
    birth_date = inputs.DateField(help_text="YYYY-MM-DD, a real day")
    sex = serializers.ChoiceField(choices=Sex.choices, required=False, allow_blank=True)
    address = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="compared in one spelling"
    )


class DisasterInsurerKeysSearch(DisasterSearchInput, inputs.SearchKeysInput):
    """Found by the insurance card's keys: insurer number, 記号 (if the card has one), 番号, 枝番 and
    birth date; checked like the re-query's (check digit, a real past day)."""

    method = _method(SearchMethod.INSURER_KEYS, "the insurance card's keys (保険者番号等)")


class DisasterCardSearch(DisasterSearchInput):
    """Found by the card's certificate, read without the PIN. It must be a current JPKI
    user-authentication certificate registered for insurance use (card_not_registered,
    certificate_expired, … otherwise)."""

    method = _method(SearchMethod.CARD, "the My Number card's certificate, read without the PIN")
    certificate = CertificateField(help_text="the card's user-authentication certificate, base64 DER")


SEARCH_INPUTS = {
    SearchMethod.ATTRIBUTES: DisasterAttributesSearch,
    SearchMethod.INSURER_KEYS: DisasterInsurerKeysSearch,
    SearchMethod.CARD: DisasterCardSearch,
}


def search_input(data) -> type[DisasterSearchInput]:
    """The serializer of the body's method; the common one (refusing the method) when it names none."""
    method = data.get("method") if isinstance(data, dict) else None
    return SEARCH_INPUTS.get(method, DisasterSearchInput) if isinstance(method, str) else DisasterSearchInput


class EncounterQuery(serializers.Serializer):
    item = serializers.ChoiceField(
        choices=[str(i) for i in services.ITEMS[EncounterBasis.DISASTER]],
        required=False,
        help_text="one item's detail (all that is kept); absent: the summary",
    )


def _refusal(exc: HomeConsentError) -> errors.ApiRefusal:
    return errors.ApiRefusal(exc, STATUS.get(exc.code, 400))


def _viewer(request) -> services.Viewer:
    return services.Viewer.client(request.user.institution, request.auth.client_id)


def _encounter(e) -> dict:
    return {
        "encounter": e.token,
        "expires_at": presenters.iso(e.expires_at),
        "method": e.method,
        "reason": e.reason,
        "scope": {"id": e.scope_id, "name": e.scope.name} if e.scope_id else None,
        "patient": presenters.person(e.person),
    }


class DisasterSearchView(DataView):
    """POST /api/v1/disaster/search"""

    required_scopes = ("disaster.read",)
    parser_classes = [JSONParser]

    def post(self, request):
        data = _valid(search_input(request.data), request.data)
        if data["method"] == SearchMethod.CARD:
            data["certificate_der"] = base64.b64decode(data["certificate"], validate=True)
        try:
            search = services.clean_search(data["method"], data)
            encounter = services.do_search(
                _viewer(request), EncounterBasis.DISASTER, search, data["reason"], data.get("reason_text", "")
            )
        except HomeConsentError as exc:
            raise _refusal(exc) from None
        return Response(
            {"process_execution_time": presenters.iso(encounter.started_at), **_encounter(encounter)},
            status=201,
        )


class DisasterEncounterView(DataView):
    query_fields = tuple(EncounterQuery().fields)
    """GET /api/v1/disaster/encounters/{encounter}"""

    required_scopes = ("disaster.read",)

    def get(self, request, encounter):
        query = _valid(EncounterQuery, request.query_params) if request.query_params else {}
        try:
            shown = services.view(_viewer(request), EncounterBasis.DISASTER, encounter, query.get("item"))
        except HomeConsentError as exc:
            raise _refusal(exc) from None
        return Response(
            {
                "process_execution_time": presenters.iso(shown.at),
                **_encounter(shown.encounter),
                "items": shown.items,
                "eligibility": presenters.eligibility_result(shown.eligibility)
                if shown.eligibility
                else None,
                "medication": [presenters.medication_record(r) for r in shown.medication]
                if shown.medication is not None
                else None,
                "checkups": [
                    {
                        "checkup_date": presenters.iso(r.checked_on),
                        "institution_name": r.institution_name,
                        "item_code": r.item_code,
                        "item_name": r.item_name,
                        "value": r.value,
                        "unit": r.unit,
                    }
                    for r in shown.checkups
                ]
                if shown.checkups is not None
                else None,
            }
        )


# --- the OpenAPI description ------------------------------------------------------------------------
# The body is one of the methods' bodies, told apart by `method`: each states its own required fields.
SEARCH_REQUEST = PolymorphicProxySerializer(
    component_name="DisasterSearch",
    serializers={method.value: serializer for method, serializer in SEARCH_INPUTS.items()},
    resource_type_field_name="method",
)


class SearchReasonRule(OpenApiSerializerExtension):
    """Each method's body also states the reason's rule (services.clean_reason): a reason other than
    `other`, or `other` with a reason_text that is not blank."""

    target_class = DisasterSearchInput
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {
            **schema,
            "anyOf": [
                {"properties": {"reason": {"not": {"enum": [DisasterConsent.OTHER.value]}}}},
                {"properties": {"reason_text": {"pattern": inputs.NOT_BLANK}}, "required": ["reason_text"]},
            ],
        }


SCOPE_REF = _doc("DisasterScopeRef", {"id": serializers.IntegerField(), "name": _s()})
PATIENT = _doc(
    "DisasterPatient", {"name": _s(), "name_kana": _s(), "sex1": _s(), "birthdate": serializers.DateField()}
)


def _encounter_fields() -> dict:
    """Fresh field instances for each serializer that holds them."""
    return {
        "process_execution_time": serializers.DateTimeField(),
        "encounter": _s(
            help_text="Names this encounter in GET /disaster/encounters/{encounter} until expires_at"
        ),
        "expires_at": serializers.DateTimeField(),
        "method": _s(help_text="how the patient was found: attributes, insurer_keys or card"),
        "reason": _s(help_text="the consent as recorded: oral, unconscious, cannot_express or other"),
        "scope": SCOPE_REF.__class__(allow_null=True),
        "patient": PATIENT.__class__(),
    }


FOUND = _doc("DisasterEncounter", _encounter_fields())
SHOWN = _doc(
    "DisasterView",
    {
        **_encounter_fields(),
        "items": serializers.ListField(child=serializers.CharField()),
        "eligibility": _doc("DisasterEligibility", eligibility_fields()).__class__(allow_null=True),
        "medication": serializers.ListField(
            child=serializers.DictField(), allow_null=True, help_text="MedicationRecord objects, newest first"
        ),
        "checkups": serializers.ListField(
            child=serializers.DictField(), allow_null=True, help_text="checkup items, newest first"
        ),
    },
)
REFUSED = OpenApiResponse(
    ApiErrorSerializer,
    description="special_access_no_match: nobody who may be shown (also a "
    "person living outside every open scope); special_access_encounter_ended",
)
ENCOUNTER_EXAMPLE = {
    "process_execution_time": "2026-12-07T09:30:00+09:00",
    "encounter": "Wq3…",
    "expires_at": "2026-12-07T13:30:00+09:00",
    "method": "attributes",
    "reason": "oral",
    "scope": {"id": 1, "name": "令和8年能登半島地震"},
    "patient": {"name": "鈴木 一郎", "name_kana": "スズキ イチロウ", "sex1": "1", "birthdate": "1943-07-13"},
}
DISASTER_SCHEMAS = [
    _documented(
        "clinicapi.disaster_api.DisasterSearchView",
        "post",
        operation_id="disaster_search",
        tags=["disaster"],
        summary="Disaster mode (災害時): find one patient without the card",
        request=SEARCH_REQUEST,
        responses={
            201: FOUND,
            400: ERROR_400,
            404: REFUSED,
            409: OpenApiResponse(
                ApiErrorSerializer,
                description="special_access_ambiguous: several persons match; add sex and address",
            ),
        },
        examples=[
            OpenApiExample(
                "attributes",
                request_only=True,
                value={
                    "method": "attributes",
                    "reason": "oral",
                    "name": "鈴木 一郎",
                    "birth_date": "1943-07-13",
                    "sex": "1",
                },
            ),
            OpenApiExample(
                "insurer_keys",
                request_only=True,
                value={
                    "method": "insurer_keys",
                    "reason": "unconscious",
                    "insurer_number": "39131016",
                    "symbol": "9999",
                    "number": "00000103",
                    "branch": "00",
                    "birth_date": "1943-07-13",
                },
            ),
            OpenApiExample(
                "card",
                request_only=True,
                value={
                    "method": "card",
                    "reason": "other",
                    "reason_text": "家族が同席して口頭で同意",
                    "certificate": "MIIGXDCCBUSgAwIBAgIEAYag",
                },
                description="certificate: the whole base64 DER the reader bridge's read_certificate "
                "returns (shortened here)",
            ),
            _example("found", ENCOUNTER_EXAMPLE, "201"),
        ],
    ),
    _documented(
        "clinicapi.disaster_api.DisasterEncounterView",
        "get",
        operation_id="disaster_view",
        tags=["disaster"],
        summary="Disaster mode (災害時): medication and checkups of the found patient",
        parameters=[OpenApiParameter("encounter", OpenApiTypes.STR, OpenApiParameter.PATH), EncounterQuery],
        responses={200: SHOWN, 400: ERROR_400, 404: ERROR_404},
        examples=[
            _example(
                "summary",
                {
                    **ENCOUNTER_EXAMPLE,
                    "items": ["qualification", "medication", "checkup"],
                    "eligibility": None,
                    "medication": [],
                    "checkups": [],
                },
            )
        ],
    ),
]
