"""The data endpoints of the institutions' API (docs/api-data.md).

Views only translate HTTP: validate input (clinicapi.serializers), call one read in clinicapi.reads
or clinicapi.batch (which checks consent and writes the access log), and present the result
(clinicapi.presenters). The institution is always the token's; no endpoint takes it as input.
"""

import datetime
import json

from django.conf import settings
from django.utils import translation
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.response import Response

from homeconsent.errors import ErrorCode
from homeconsent.registry.validation import RegistryValidationError, clean_date, clean_search_keys

from . import actions, batch, errors, fhir, presenters, reads, serializers
from .views import ApiView

CURSOR_INVALID = ErrorCode(
    "cursor_invalid",
    "cursor が正しくありません。前の応答の next_cursor をそのまま使ってください。",
    "The cursor is not valid; pass next_cursor from the previous answer unchanged.",
)


def _valid(serializer_class, data) -> dict:
    """Validated input, or input_invalid with each field's problem in Japanese and English (the
    serializer's messages are rendered once per language, whatever the request's language)."""
    with translation.override("ja"):
        serializer = serializer_class(data=data)
        if serializer.is_valid():
            return serializer.validated_data
    with translation.override("en"):
        english = serializer_class(data=data)
        english.is_valid()
    raise errors.FieldProblems.from_drf(serializer.errors, english.errors)


def _encode_cursor(position) -> str | None:
    """The next page's position as `<microseconds since 1970 UTC>.<id>` (serializers.CURSOR_PATTERN):
    a form the schema can state exactly, so every cursor it allows can be read."""
    if position is None:
        return None
    given_at, pk = position
    micros = (given_at - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)) // datetime.timedelta(
        microseconds=1
    )
    return f"{micros}.{pk}"


def _decode_cursor(cursor: str):
    try:
        micros, _, pk = cursor.partition(".")
        given_at = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            microseconds=int(micros)
        )
        return given_at, int(pk)
    except (ValueError, OverflowError):
        raise errors.ApiRefusal(CURSOR_INVALID(), 400) from None


def consented_page(request, query) -> "reads.PatientPage":
    """One page of the caller's consented patients for a validated ConsentedPatientsQuery (JSON and FHIR)."""
    return reads.consented_patients(
        request.auth,
        request.user.institution,
        kind=query.get("kind"),
        consented_from=query.get("consented_from"),
        consented_to=query.get("consented_to"),
        visit_from=query.get("visit_from"),
        visit_to=query.get("visit_to"),
        status=query["status"],
        after=_decode_cursor(query["cursor"]) if query.get("cursor") else None,
        limit=query["page_size"],
    )


class DataView(ApiView):
    """Answers are personal data: never stored by caches on the way. Routed under /api/v1/fhir/
    (as_view(fhir_only=True)) a view answers FHIR whatever the Accept header says."""

    fhir_only = False

    def perform_content_negotiation(self, request, force=False):
        if self.fhir_only:
            renderer = fhir.FhirJsonRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class MedicalDataView(DataView):
    """A medical read (medical_item: medication, treatment, checkup). A qualification-only institution
    (資格確認限定型) is told why it is refused, and the refusal is logged, instead of a bare missing
    scope: HasScopes leaves that case to initial(), after the client's rate limit."""

    medical_item = ""

    def refused_patient_id(self, request, **kwargs) -> str:
        """The patient the request is about, for the refusal's log row."""
        return kwargs.get("patient_id", "")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        institution = request.user.institution
        if institution.qualification_only:
            patient_id = self.refused_patient_id(request, **kwargs)
            raise actions.do_refuse_medical_read(request.auth, institution, patient_id, self.medical_item)


class ConsentedPatientsView(DataView):
    """GET /api/v1/patients — this institution's home-visit and telehealth consents (one page)."""

    query_fields = tuple(serializers.ConsentedPatientsQuery().fields)
    required_scopes = ("consent.read",)
    renderer_classes = fhir.RENDERERS

    def get(self, request):
        query = _valid(serializers.ConsentedPatientsQuery, request.query_params)
        page = consented_page(request, query)
        cursor = _encode_cursor(page.next_cursor)
        return fhir.respond(
            request, page, "patients", lambda: presenters.consented_patients(page, cursor), next_cursor=cursor
        )


class EligibilityView(DataView):
    """GET /api/v1/patients/{patient_id}/eligibility?on=YYYY-MM-DD"""

    query_fields = tuple(serializers.EligibilityQuery().fields)
    required_scopes = ("qualification.read",)
    renderer_classes = fhir.RENDERERS

    def get(self, request, patient_id):
        # Most checks ask about today and send no query: no serializer to build for nothing.
        query = _valid(serializers.EligibilityQuery, request.query_params) if request.query_params else {}
        read = reads.eligibility(request.auth, patient_id, _in_window(query.get("on")))
        return fhir.respond(request, read, "eligibility", lambda: presenters.eligibility(read))


def _field_refusal(exc: RegistryValidationError) -> errors.FieldProblems:
    """Registry validation errors as the API's input_invalid with per-field details."""
    problems: dict[str, list] = {}
    for e in exc.errors:
        problems.setdefault(e.field, []).append(e.error.as_dict())
    return errors.FieldProblems(problems)


def _in_window(on):
    """A reference date inside the registry's accepted window (1900 … about a year ahead)."""
    if on is None:
        return None
    try:
        return clean_date(on.isoformat(), "on")
    except RegistryValidationError as exc:
        raise _field_refusal(exc) from None


def search_keys(request):
    """(the registry's search keys, the day asked) of a body with insurance-card numbers and birth
    date (RequeryInput): the re-query's and the 資格確認書's; a bad key is its field's 400."""
    data = _valid(serializers.RequeryInput, request.data)
    try:
        keys = clean_search_keys(
            data["insurer_number"], data["symbol"], data["number"], data["branch"], data["birth_date"]
        )
    except RegistryValidationError as exc:
        raise _field_refusal(exc) from None
    return keys, _in_window(data.get("on"))


class RequeryView(DataView):
    """POST /api/v1/requery — 再照会 by insurance-card numbers and birth date (home-visit consent)."""

    required_scopes = ("qualification.read",)
    parser_classes = [JSONParser]
    renderer_classes = fhir.RENDERERS

    def post(self, request):
        keys, on = search_keys(request)
        read = reads.requery(request.auth, keys, on)
        return fhir.respond(request, read, "eligibility", lambda: presenters.eligibility(read))


class MedicationView(MedicalDataView):
    """GET /api/v1/patients/{patient_id}/medication?month_from=YYYY-MM&month_to=YYYY-MM&source="""

    query_fields = tuple(serializers.MedicationQuery().fields)
    required_scopes = ("medication.read",)
    medical_item = "medication"
    renderer_classes = fhir.RENDERERS

    def get(self, request, patient_id):
        query = _valid(serializers.MedicationQuery, request.query_params)
        read, included = fhir.search_with_patient(
            request,
            "medication",
            patient_id,
            lambda: reads.medication(
                request.auth, patient_id, query.get("month_from"), query.get("month_to"), query.get("source")
            ),
        )
        return fhir.respond(
            request, read, "medication", lambda: presenters.medication(read), included=included
        )


class TreatmentView(MedicalDataView):
    """GET /api/v1/patients/{patient_id}/treatment?date_from=&date_to="""

    query_fields = tuple(serializers.DateRangeQuery().fields)
    required_scopes = ("treatment.read",)
    medical_item = "treatment"
    renderer_classes = fhir.RENDERERS

    def get(self, request, patient_id):
        query = _valid(serializers.DateRangeQuery, request.query_params)
        read, included = fhir.search_with_patient(
            request,
            "treatment",
            patient_id,
            lambda: reads.treatment(request.auth, patient_id, query.get("date_from"), query.get("date_to")),
        )
        return fhir.respond(request, read, "treatment", lambda: presenters.treatment(read), included=included)


class CheckupsView(MedicalDataView):
    """GET /api/v1/patients/{patient_id}/checkups?date_from=&date_to="""

    query_fields = tuple(serializers.DateRangeQuery().fields)
    required_scopes = ("checkup.read",)
    medical_item = "checkup"
    renderer_classes = fhir.RENDERERS

    def get(self, request, patient_id):
        query = _valid(serializers.DateRangeQuery, request.query_params)
        read, included = fhir.search_with_patient(
            request,
            "checkup",
            patient_id,
            lambda: reads.checkups(request.auth, patient_id, query.get("date_from"), query.get("date_to")),
        )
        return fhir.respond(request, read, "checkup", lambda: presenters.checkups(read), included=included)


class CancelConsentView(DataView):
    """POST /api/v1/patients/{patient_id}/cancel {"kind": …} — cancellation by the institution."""

    required_scopes = ("consent.write",)
    parser_classes = [JSONParser]

    def post(self, request, patient_id):
        data = _valid(serializers.CancelInput, request.data)
        consents = actions.do_cancel(request.auth, request.user.institution, patient_id, data.get("kind"))
        return Response(presenters.cancelled(consents))


class BatchJSONParser(BaseParser):
    """JSON read from the stream: DRF reads a JSONParser's body through request.body, which Django
    caps at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB); a batch may be larger (ApiGuardMiddleware has
    already held it to CLINICAPI_BATCH_MAX_BODY_BYTES by Content-Length)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(settings.CLINICAPI_BATCH_MAX_BODY_BYTES + 1) if stream is not None else b""
        try:
            return json.loads(data.decode("utf-8")) if data else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class BatchSubmitView(DataView):
    """POST /api/v1/batches {"on": …, "entries": [{search keys}, …]} — 一括照会, processed at once."""

    required_scopes = ("batch.write",)
    parser_classes = [BatchJSONParser]

    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        on = _valid(serializers.EligibilityQuery, {"on": data["on"]} if "on" in data else {}).get("on")
        inquiry = batch.do_submit(request.auth, request.user.institution, data.get("entries"), _in_window(on))
        return Response(presenters.batch_received(inquiry), status=201)


class BatchResultsView(DataView):
    """GET /api/v1/batches/{reception_number}?offset=&limit= — one page of per-entry results."""

    query_fields = tuple(serializers.BatchPageQuery().fields)
    required_scopes = ("batch.write",)

    def get(self, request, reception_number):
        query = _valid(serializers.BatchPageQuery, request.query_params)
        inquiry, entries = batch.results(request.auth, reception_number, query["offset"], query["limit"])
        return Response(presenters.batch(inquiry, entries, query["offset"], query["limit"]))
