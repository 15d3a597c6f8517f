"""Disaster mode (災害時) for institution systems: the same search and views as the console's 災害時閲覧,
under the scope `disaster.read` and the same rules (homeconsent.special_access.services).

    POST /api/v1/disaster/search               find one patient living in an open disaster scope
    GET  /api/v1/disaster/encounters/{encounter}?item=medication|checkup|qualification

Views translate HTTP only; the services decide, read and log. Emergency viewing (救急時) is for named
hospital staff in the console, not for systems.
"""

import base64
import binascii

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from homeconsent.errors import HomeConsentError
from homeconsent.special_access import services
from homeconsent.special_access.models import DisasterConsent, EncounterBasis, SearchMethod

from . import errors, presenters
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


class DisasterSearchInput(serializers.Serializer):
    method = serializers.ChoiceField(
        choices=SearchMethod.choices,
        help_text="attributes (name, birth date, sex, "
        "address), insurer_keys, or card (its certificate, read without the PIN)",
    )
    reason = serializers.ChoiceField(
        choices=DisasterConsent.choices, help_text="oral consent, or why it could not be given"
    )
    reason_text = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="required when reason is other"
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text="kanji or kana")
    birth_date = serializers.CharField(
        max_length=10, required=False, allow_blank=True, help_text="YYYY-MM-DD"
    )
    sex = serializers.CharField(max_length=1, required=False, allow_blank=True, help_text="1 男, 2 女")
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    insurer_number = serializers.CharField(max_length=8, required=False, allow_blank=True)
    symbol = serializers.CharField(max_length=38, required=False, allow_blank=True)
    number = serializers.CharField(max_length=38, required=False, allow_blank=True)
    branch = serializers.CharField(max_length=2, required=False, allow_blank=True)
    certificate = serializers.CharField(
        max_length=8000,
        required=False,
        allow_blank=True,
        help_text="the card's user-authentication certificate, base64 DER",
    )


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
        data = _valid(DisasterSearchInput, request.data)
        if data.get("certificate"):
            try:
                data["certificate_der"] = base64.b64decode(data["certificate"], validate=True)
            except (binascii.Error, ValueError):
                data["certificate_der"] = b"\x00"  # refused by the card check as malformed
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
        request=DisasterSearchInput,
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
