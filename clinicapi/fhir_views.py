"""The FHIR R4 REST API under /api/v1/fhir/ (docs/api-data.md, "FHIR"): what a FHIR client expects of
a server, on top of the same consent-checked reads as the JSON endpoints.

- GET metadata (CapabilityStatement) and .well-known/smart-configuration, without a token;
- reads: Patient/<id>, Coverage/<id>, Consent/<id>, Organization/<id> (clinicapi.fhir_reads);
- searches: Patient (consented patients, paged), Coverage, MedicationDispense, Observation and
  Procedure by `patient`, each accepting `_include` of the Patient so a Bundle can stand alone.

Views only translate FHIR's HTTP into the reads of clinicapi.reads / fhir_reads and build resources
with clinicapi.fhir; the institution is always the token's.
"""

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from homeconsent.errors import ErrorCode

from . import client_keys, errors, fhir, fhir_reads, reads, serializers
from .data_views import DataView, MedicalDataView, _encode_cursor, _in_window, _valid, consented_page
from .scopes import SCOPES

PATIENT_PARAMETER_MISSING = ErrorCode(
    "patient_parameter_missing",
    "検索には patient（患者ID）を指定してください。例: ?patient=<patient_id>",
    "A search needs the patient parameter (the patient id), e.g. ?patient=<patient_id>.",
)

# FHIR's own search controls, which the JSON query serializers do not know.
CONTROL_PARAMETERS = ("_include", "_revinclude", "_format", "_count", "patient", "beneficiary", "subject")


def _query(request, **renamed) -> dict:
    """The query without FHIR's controls, with FHIR names mapped to the JSON API's (`_count` →
    page_size); the serializers then validate it as for the JSON endpoints."""
    query = {k: v for k, v in request.query_params.items() if k not in CONTROL_PARAMETERS}
    for fhir_name, json_name in renamed.items():
        if fhir_name in request.query_params:
            query[json_name] = request.query_params[fhir_name]
    return query


def _patient_parameter(request) -> str:
    """The patient a search is about: `patient=<id>` or `patient=Patient/<id>` (or `subject`,
    `beneficiary`)."""
    params = request.query_params
    value = params.get("patient") or params.get("beneficiary") or params.get("subject") or ""
    value = value.rsplit("/", 1)[-1]
    if not value:
        raise errors.FieldProblems.of("patient", PATIENT_PARAMETER_MISSING())
    return value


class FhirView(DataView):
    query_fields = None  # FHIR search parameters, checked by the FHIR views themselves
    fhir_only = True
    renderer_classes = [fhir.FhirJsonRenderer]


# --- reads ---------------------------------------------------------------------------------------
class PatientReadView(FhirView):
    """GET Patient/<id> — JP_Patient of a patient with a consent in force at this institution."""

    required_scopes = ("consent.read",)

    def get(self, request, resource_id):
        read = fhir_reads.patient(request.auth, request.user.institution, resource_id)
        return Response(fhir.patient(read.person, read.patient_id))


class CoverageReadView(FhirView):
    """GET Coverage/<id> — JP_Coverage of one qualification period or 公費 certificate (consent
    includes qualification)."""

    required_scopes = ("qualification.read",)

    def get(self, request, resource_id):
        read = fhir_reads.coverage(request.auth, resource_id)
        if read.public_expense is not None:
            certificate = read.public_expense
            return Response(
                fhir.public_expense_coverage(
                    certificate, read.patient_id, person=certificate.person, on=read.on
                )
            )
        return Response(
            fhir.coverage(
                read.qualification, read.patient_id, on=read.on, elderly_certificate=read.elderly_certificate
            )
        )


class ConsentReadView(FhirView):
    """GET Consent/<id> — one of this institution's consents."""

    required_scopes = ("consent.read",)

    def get(self, request, resource_id):
        read = fhir_reads.consent(request.auth, request.user.institution, resource_id)
        return Response(fhir.consent(read.consent, read.patient_id, now=read.at))


class MedicalReadView(MedicalDataView, FhirView):
    """GET MedicationDispense/<id>, Observation/<id>, Procedure/<id> — a row a medical search returned."""

    def refused_patient_id(self, request, **kwargs) -> str:
        return fhir.patient_id_of_record(kwargs["resource_id"])

    def get(self, request, resource_id):
        return Response(fhir_reads.medical_resource(request.auth, self.medical_item, resource_id))


class MedicationDispenseReadView(MedicalReadView):
    required_scopes = ("medication.read",)
    medical_item = "medication"


class ObservationReadView(MedicalReadView):
    required_scopes = ("checkup.read",)
    medical_item = "checkup"


class ProcedureReadView(MedicalReadView):
    required_scopes = ("treatment.read",)
    medical_item = "treatment"


class OrganizationReadView(FhirView):
    """GET Organization/<id> — an institution (institution-<10 digits>) or insurer (insurer-<8 digits>)."""

    def get(self, request, resource_id):
        return Response(fhir_reads.organization(resource_id))


# --- searches ------------------------------------------------------------------------------------
class PatientSearchView(FhirView):
    """GET Patient?_count=&cursor=&_revinclude=Consent:patient — this institution's consented
    patients (home-visit and telehealth), one page; the JSON endpoint's filters apply too."""

    required_scopes = ("consent.read",)

    def get(self, request):
        try:
            query = _valid(serializers.ConsentedPatientsQuery, _query(request, _count="page_size"))
        except errors.FieldProblems as exc:
            if "_count" not in request.query_params:
                raise
            # Name the parameter as the client sent it.
            renamed = {("_count" if k == "page_size" else k): v for k, v in exc.problems.items()}
            raise errors.FieldProblems(renamed) from None
        page = consented_page(request, query)
        with_consents = "Consent:patient" in request.query_params.getlist("_revinclude")
        links = fhir.page_links(request, _encode_cursor(page.next_cursor))
        return Response(fhir.patients_bundle(page, include_consents=with_consents, **links))


class CoverageSearchView(FhirView):
    """GET Coverage?patient=<id>&on=YYYY-MM-DD&_include=Coverage:beneficiary — the eligibility read."""

    required_scopes = ("qualification.read",)

    def get(self, request):
        patient_id = _patient_parameter(request)
        query = _valid(serializers.EligibilityQuery, _query(request))
        read = reads.eligibility(request.auth, patient_id, _in_window(query.get("on")))
        include = fhir.wants_include(request, "eligibility")
        return Response(
            fhir.eligibility_bundle(read, include_patient=include, **fhir.page_links(request, None))
        )


class MedicalSearchView(MedicalDataView, FhirView):
    """GET MedicationDispense / Observation / Procedure ?patient=<id> with the JSON endpoint's date
    filters, and `_include=<Type>:patient`."""

    serializer = None

    def refused_patient_id(self, request, **kwargs) -> str:
        return _patient_parameter(request)

    def read(self, request, patient_id, query):
        raise NotImplementedError

    def get(self, request):
        patient_id = _patient_parameter(request)
        query = _valid(self.serializer, _query(request))
        read, included = fhir.search_with_patient(
            request, self.medical_item, patient_id, lambda: self.read(request, patient_id, query)
        )
        return Response(
            fhir.medical_bundle(read, self.medical_item, included=included, **fhir.page_links(request, None))
        )


class MedicationDispenseSearchView(MedicalSearchView):
    required_scopes = ("medication.read",)
    medical_item = "medication"
    serializer = serializers.MedicationQuery

    def read(self, request, patient_id, query):
        return reads.medication(
            request.auth, patient_id, query.get("month_from"), query.get("month_to"), query.get("source")
        )


class ObservationSearchView(MedicalSearchView):
    required_scopes = ("checkup.read",)
    medical_item = "checkup"
    serializer = serializers.DateRangeQuery

    def read(self, request, patient_id, query):
        return reads.checkups(request.auth, patient_id, query.get("date_from"), query.get("date_to"))


class ProcedureSearchView(MedicalSearchView):
    required_scopes = ("treatment.read",)
    medical_item = "treatment"
    serializer = serializers.DateRangeQuery

    def read(self, request, patient_id, query):
        return reads.treatment(request.auth, patient_id, query.get("date_from"), query.get("date_to"))


# --- conformance ---------------------------------------------------------------------------------
class PublicFhirView(APIView):
    """What a client reads before it has a token: no authentication, no personal data."""

    authentication_classes = []
    permission_classes = []
    renderer_classes = [fhir.FhirJsonRenderer]

    def get_exception_handler(self):
        return errors.api_exception_handler


def _token_url(request) -> str:
    return settings.CLINICAPI_TOKEN_URL or request.build_absolute_uri(reverse("clinicapi:token"))


class MetadataView(PublicFhirView):
    """GET metadata — the CapabilityStatement of this server."""

    def get(self, request):
        return Response(capability_statement(fhir.base_url(request), _token_url(request)))


class SmartConfigurationView(PublicFhirView):
    """GET .well-known/smart-configuration — SMART App Launch 2.x discovery for backend services."""

    renderer_classes = [JSONRenderer]

    def get(self, request):
        return Response(
            {
                "token_endpoint": _token_url(request),
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": list(client_keys.ALGORITHMS),
                "scopes_supported": sorted(SCOPES),
                "capabilities": ["client-confidential-asymmetric"],
            }
        )


# Served resource types: (interactions, search parameters, _include, _revinclude, profile).
SEARCH_PATIENT = ("patient", "reference", "The patient id (as in Patient/<id>)")
SEARCH_DATES = [("date_from", "date", "From this date (YYYY-MM-DD)"), ("date_to", "date", "Up to this date")]
SERVED = {
    "Patient": (
        ["read", "search-type"],
        [
            ("_count", "number", "Page size (1-500, default 100)"),
            ("cursor", "string", "Opaque cursor of the next page (follow Bundle.link next)"),
            ("status", "token", "in_force (default) | ended | all"),
            ("kind", "token", "home_visit | telehealth"),
        ],
        [],
        ["Consent:patient"],
        fhir.PROFILE_PATIENT,
    ),
    "Coverage": (
        ["read", "search-type"],
        [SEARCH_PATIENT, ("on", "date", "Reference date (default today)")],
        list(fhir.PATIENT_INCLUDES["eligibility"]),
        [],
        fhir.PROFILE_COVERAGE,
    ),
    "MedicationDispense": (
        ["read", "search-type"],
        [
            SEARCH_PATIENT,
            ("month_from", "string", "From this dispensing month (YYYY-MM)"),
            ("month_to", "string", "Up to this dispensing month (YYYY-MM)"),
            ("source", "token", "Information source"),
        ],
        list(fhir.PATIENT_INCLUDES["medication"]),
        [],
        fhir.PROFILE_MEDICATION_DISPENSE,
    ),
    "Observation": (
        ["read", "search-type"],
        [SEARCH_PATIENT, *SEARCH_DATES],
        list(fhir.PATIENT_INCLUDES["checkup"]),
        [],
        fhir.PROFILE_OBSERVATION,
    ),
    "Procedure": (
        ["read", "search-type"],
        [SEARCH_PATIENT, *SEARCH_DATES],
        list(fhir.PATIENT_INCLUDES["treatment"]),
        [],
        fhir.PROFILE_PROCEDURE,
    ),
    "Consent": (["read"], [], [], [], fhir.PROFILE_CONSENT),
    "Organization": (["read"], [], [], [], fhir.PROFILE_ORGANIZATION),
}


def capability_statement(base: str, token_url: str) -> dict:
    """What this server does, as FHIR R4 CapabilityStatement (kind instance): each resource type with
    its interactions, search parameters, includes and JP Core 1.2.0 profile; JSON only; SMART
    backend services (client_credentials, private_key_jwt) as the security."""
    resources = []
    for resource_type, (interactions, params, includes, revincludes, profile) in SERVED.items():
        resources.append(
            fhir._drop_empty(
                {
                    "type": resource_type,
                    "profile": profile,
                    "interaction": [{"code": code} for code in interactions],
                    "searchInclude": includes,
                    "searchRevInclude": revincludes,
                    "searchParam": [
                        {"name": name, "type": kind, "documentation": text} for name, kind, text in params
                    ],
                }
            )
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": timezone.localdate().isoformat(),
        "publisher": "HomeConsent",
        "kind": "instance",
        "implementation": {"description": "HomeConsent clinic API (FHIR R4, JP Core 1.2.0)", "url": base},
        "fhirVersion": fhir.FHIR_VERSION,
        "format": [fhir.FHIR_MEDIA_TYPE, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Every read checks the patient's consent and is written to the patient's "
                "access log.",
                "security": {
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                    "service": [
                        fhir._concept(
                            "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "SMART-on-FHIR",
                            "SMART-on-FHIR",
                        )
                    ],
                    "description": "SMART Backend Services: client_credentials with a private_key_jwt "
                    "assertion; scopes as in .well-known/smart-configuration.",
                },
                "resource": resources,
            }
        ],
    }
