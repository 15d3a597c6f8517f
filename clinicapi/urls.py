from django.urls import path

from . import (
    data_views,
    disaster_api,
    fastcheck,
    fastmedication,
    fhir_views,
    paper_certificate_api,
    schema,
    views,
)

app_name = "clinicapi"

urlpatterns = [
    path("auth/token", views.TokenView.as_view(), name="token"),
    path("whoami", views.WhoAmIView.as_view(), name="whoami"),
    path("patients", data_views.ConsentedPatientsView.as_view(), name="patients"),
    path(
        "patients/<str:patient_id>/eligibility",
        fastcheck.fast_or(data_views.EligibilityView.as_view()),
        name="eligibility",
    ),
    path(
        "patients/<str:patient_id>/medication",
        fastcheck.fast_or(data_views.MedicationView.as_view(), fastmedication.MEDICATION_READ),
        name="medication",
    ),
    path("patients/<str:patient_id>/treatment", data_views.TreatmentView.as_view(), name="treatment"),
    path("patients/<str:patient_id>/checkups", data_views.CheckupsView.as_view(), name="checkups"),
    path("patients/<str:patient_id>/cancel", data_views.CancelConsentView.as_view(), name="cancel"),
    path("requery", data_views.RequeryView.as_view(), name="requery"),
    path("paper-certificate", paper_certificate_api.PaperCertificateView.as_view(), name="paper-certificate"),
    path("batches", data_views.BatchSubmitView.as_view(), name="batches"),
    path("batches/<str:reception_number>", data_views.BatchResultsView.as_view(), name="batch"),
    path("disaster/search", disaster_api.DisasterSearchView.as_view(), name="disaster-search"),
    path(
        "disaster/encounters/<str:encounter>",
        disaster_api.DisasterEncounterView.as_view(),
        name="disaster-encounter",
    ),
    # The same reads, FHIR whatever the Accept header says (not in the OpenAPI description).
    path("fhir/patients", data_views.ConsentedPatientsView.as_view(fhir_only=True), name="fhir-patients"),
    path(
        "fhir/patients/<str:patient_id>/eligibility",
        data_views.EligibilityView.as_view(fhir_only=True),
        name="fhir-eligibility",
    ),
    path(
        "fhir/patients/<str:patient_id>/medication",
        data_views.MedicationView.as_view(fhir_only=True),
        name="fhir-medication",
    ),
    path(
        "fhir/patients/<str:patient_id>/treatment",
        data_views.TreatmentView.as_view(fhir_only=True),
        name="fhir-treatment",
    ),
    path(
        "fhir/patients/<str:patient_id>/checkups",
        data_views.CheckupsView.as_view(fhir_only=True),
        name="fhir-checkups",
    ),
    path("fhir/requery", data_views.RequeryView.as_view(fhir_only=True), name="fhir-requery"),
    # The FHIR R4 REST API proper: conformance, reads and searches (clinicapi.fhir_views).
    path("fhir/metadata", fhir_views.MetadataView.as_view(), name="fhir-metadata"),
    path(
        "fhir/.well-known/smart-configuration",
        fhir_views.SmartConfigurationView.as_view(),
        name="fhir-smart-configuration",
    ),
    path("fhir/Patient", fhir_views.PatientSearchView.as_view(), name="fhir-patient-search"),
    path("fhir/Patient/<str:resource_id>", fhir_views.PatientReadView.as_view(), name="fhir-patient"),
    path("fhir/Coverage", fhir_views.CoverageSearchView.as_view(), name="fhir-coverage-search"),
    path("fhir/Coverage/<str:resource_id>", fhir_views.CoverageReadView.as_view(), name="fhir-coverage"),
    path("fhir/Consent/<str:resource_id>", fhir_views.ConsentReadView.as_view(), name="fhir-consent"),
    path(
        "fhir/Organization/<str:resource_id>",
        fhir_views.OrganizationReadView.as_view(),
        name="fhir-organization",
    ),
    path(
        "fhir/MedicationDispense",
        fhir_views.MedicationDispenseSearchView.as_view(),
        name="fhir-medication-search",
    ),
    path("fhir/Observation", fhir_views.ObservationSearchView.as_view(), name="fhir-observation-search"),
    path("fhir/Procedure", fhir_views.ProcedureSearchView.as_view(), name="fhir-procedure-search"),
    path(
        "fhir/MedicationDispense/<str:resource_id>",
        fhir_views.MedicationDispenseReadView.as_view(),
        name="fhir-medication",
    ),
    path(
        "fhir/Observation/<str:resource_id>",
        fhir_views.ObservationReadView.as_view(),
        name="fhir-observation",
    ),
    path("fhir/Procedure/<str:resource_id>", fhir_views.ProcedureReadView.as_view(), name="fhir-procedure"),
    path("schema", schema.SchemaView.as_view(), name="schema"),
    path("docs", schema.DocsView.as_view(), name="docs"),
    path("docs/try", schema.DocsTryView.as_view(), name="docs-try"),
]
