"""The paper eligibility certificate (資格確認書) for institution systems:

    POST /api/v1/paper-certificate     eligibility by the keys printed on the certificate

under the scope `paper_certificate.read`. The rule, the log row and the rate limit are the registry's
(homeconsent.registry.paper_certificate); the view translates HTTP and names the path in its answer.
"""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from homeconsent.audit.models import ActorType
from homeconsent.errors import HomeConsentError
from homeconsent.registry import paper_certificate

from . import errors, presenters
from . import serializers as inputs
from .data_views import DataView, search_keys
from .reads import not_found
from .schema import (
    ELIGIBILITY_EXAMPLE,
    ERROR_400,
    ERROR_404,
    KEYS_EXAMPLE,
    ApiErrorSerializer,
    _doc,
    _documented,
    _example,
    _s,
    eligibility_fields,
    error_example,
)

PATH = "paper_certificate"
STATUS = {
    paper_certificate.CARD_REGISTERED.code: 409,
    paper_certificate.RATE_LIMITED.code: 429,
}


def answer(check) -> dict:
    """The eligibility answer of the paper path: which path, the national header, no patient id (no
    consent exists, so nothing else can be read for this person)."""
    return {
        "process_execution_time": presenters.iso(check.at),
        "path": PATH,
        "reference_classification": "2",
        "segment_of_result": "1",
        **presenters.eligibility_result(check.result),
    }


class PaperCertificateView(DataView):
    """POST /api/v1/paper-certificate — 資格確認書: eligibility by its search keys and birth date."""

    required_scopes = ("paper_certificate.read",)
    parser_classes = [JSONParser]

    def post(self, request):
        keys, on = search_keys(request)
        try:
            check = paper_certificate.check_paper_certificate(
                actor_type=ActorType.INSTITUTION_CLIENT,
                actor_id=request.auth.client_id,
                institution_code=request.auth.institution_code,
                keys=keys,
                on=on,
            )
        except HomeConsentError as exc:
            if exc.code == paper_certificate.NO_MATCH.code:
                raise not_found() from None  # the same 404 as an unknown patient anywhere else
            raise errors.ApiRefusal(exc, STATUS.get(exc.code, 400)) from None
        return Response(answer(check))


# --- the OpenAPI description ------------------------------------------------------------------------
ANSWER = _doc(
    "PaperCertificateEligibility",
    {
        "process_execution_time": serializers.DateTimeField(),
        "path": serializers.ChoiceField(
            choices=[PATH], help_text="How the patient was checked: paper_certificate (資格確認書の記載事項)"
        ),
        # Plain strings: the same names carry other choice sets in other components (enum names).
        "reference_classification": _s(
            help_text="Always 2: by insurance-card numbers (printed on the certificate)"
        ),
        "segment_of_result": _s(help_text="Always 1: processed"),
        **{
            name: field
            for name, field in eligibility_fields().items()
            if name != "limit_application_certificate_related_info"  # 限度額 needs the card's consent
        },
    },
)
PAPER_CERTIFICATE_SCHEMAS = [
    _documented(
        "clinicapi.paper_certificate_api.PaperCertificateView",
        "post",
        operation_id="paper_certificate",
        tags=["eligibility"],
        summary="Eligibility by a paper eligibility certificate (資格確認書)",
        description=(
            "For a patient who has no My Number card registered as health insurance card and shows the "
            "資格確認書 instead: the keys printed on it and the birth date answer eligibility (資格情報, with "
            "the elderly, specific-disease and 公費 certificates). No consent exists on this path, so no "
            "patient id, no 限度額 and no medical information. A person whose card is registered for "
            "insurance use is refused (409 `paper_certificate_card_registered`; 後期高齢者 looked up for "
            "a day until 2026-07-31 excepted, who all received a 資格確認書). Keys that match nobody answer "
            "404 `not_found`. Every check is written to the patient's access log as the 資格確認書 path."
        ),
        request=inputs.RequeryInput,
        responses={
            200: ANSWER,
            400: ERROR_400,
            404: ERROR_404,
            409: OpenApiResponse(
                ApiErrorSerializer,
                description="paper_certificate_card_registered: check with the card instead",
                examples=[
                    error_example(
                        "card_registered",
                        paper_certificate.CARD_REGISTERED.code,
                        paper_certificate.CARD_REGISTERED.ja,
                        paper_certificate.CARD_REGISTERED.en,
                        409,
                    )
                ],
            ),
        },
        examples=[
            KEYS_EXAMPLE,
            _example(
                "eligible",
                {
                    "process_execution_time": ELIGIBILITY_EXAMPLE["process_execution_time"],
                    "path": PATH,
                    "reference_classification": "2",
                    "segment_of_result": "1",
                    **{k: v for k, v in ELIGIBILITY_EXAMPLE.items() if k in eligibility_fields()},
                    "public_expense_certificate_list": [],
                },
            ),
        ],
    ),
]
