"""A FHIR client library the project does not use (SMART's fhirclient, R4 models) against a live
server over real HTTP: it reads the CapabilityStatement, searches, and resolves every reference it
meets, from the Bundle (fullUrl), from a contained resource, or by reading it from the server."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.cache import cache
from fhirclient.models.bundle import Bundle
from fhirclient.models.consent import Consent as FhirConsent
from fhirclient.models.coverage import Coverage
from fhirclient.models.fhirsearch import FHIRSearch
from fhirclient.models.medicationdispense import MedicationDispense
from fhirclient.models.observation import Observation
from fhirclient.models.organization import Organization
from fhirclient.models.patient import Patient
from fhirclient.models.procedure import Procedure
from fhirclient.server import FHIRServer

from clinicapi import fhir
from clinicapi.auth import do_register_client
from clinicapi.client.core import Client, generate_key, public_jwk
from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from homeconsent.consent.models import Consent
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, MedicationRecord, PublicExpenseCertificate
from homeconsent.registry.seeding import seed_demo_persons, seed_registry

CODE = "0110113719"
SCOPES = ["qualification.read", "consent.read", "medication.read", "treatment.read", "checkup.read"]


@pytest.fixture
def fhir_server(live_server, transactional_db):
    """fhirclient's server object on the live server's FHIR base, with a token the reference client got
    by the SMART backend-services flow over HTTP; and the patient whose records it walks."""
    cache.clear()
    seed_registry(20, seed=4)
    seed_demo_persons()
    institution = Institution.objects.create(code=CODE, name="札幌在宅クリニック")
    key = generate_key("ES384")
    registered = do_register_client(institution, "EHR", {"keys": [public_jwk(key)]}, SCOPES)
    client = Client(live_server.url + "/api/v1", registered.client_id, key)
    client.token(SCOPES)
    record = MedicationRecord.objects.filter(
        dispensed_on__lte=date.today(), dispensing_institution__isnull=False
    )
    record = record.order_by("-dispensed_on").first()
    Consent.objects.create(
        person=record.person,
        institution=institution,
        kind="home_visit",
        items=["qualification", "medication", "treatment", "checkup"],
        given_at=datetime.now(UTC) - timedelta(hours=1),
    )
    server = FHIRServer(None, base_uri=live_server.url + "/api/v1/fhir/")
    server.get_capability()  # GET metadata, no token: fhirclient reads the security from it
    server.session.headers["Authorization"] = f"Bearer {client.access_token}"
    yield server, patient_id_for(CODE, record.person_id), record
    cache.clear()


def first_page(search: FHIRSearch, server) -> Bundle:
    return next(search.perform_iter(server))


def test_fhirclient_reads_the_capability_statement(fhir_server):
    server, _, _ = fhir_server

    statement = server.capabilityStatement

    assert statement.fhirVersion == "4.0.1"
    assert {r.type for r in statement.rest[0].resource} >= {
        "Patient",
        "Coverage",
        "MedicationDispense",
        "Consent",
    }
    assert server.auth is not None  # it understood the SMART security extension


def test_from_a_medication_search_to_its_patient_and_pharmacy(fhir_server):
    server, pid, record = fhir_server
    search = MedicationDispense.where(
        struct={"patient": pid, "month_from": record.dispensed_on.strftime("%Y-%m")}
    )

    bundle = first_page(search.include("subject"), server)

    dispenses = [e.resource for e in bundle.entry if isinstance(e.resource, MedicationDispense)]
    assert dispenses and bundle.total == len(dispenses)
    for dispense in dispenses:
        patient = dispense.subject.resolved(Patient)  # from the Bundle, by fullUrl
        assert isinstance(patient, Patient) and patient.id == pid
        assert {n.extension[0].valueCode for n in patient.name} == {"IDE", "SYL"}
        assert {i.system.rsplit("/", 1)[1] for i in dispense.identifier} == {
            "Medication-RPGroupNumber",
            "MedicationAdministrationIndex",
        }
    again = MedicationDispense.read(dispenses[0].id, server)  # each entry readable at its own URL
    assert again.as_json() == dispenses[0].as_json()
    pharmacy = next(d.performer[0].actor for d in dispenses if d.performer)
    organization = pharmacy.resolved(Organization)  # read from the server
    assert (
        isinstance(organization, Organization)
        and organization.identifier[0].value == pharmacy.identifier.value
    )


def test_from_a_coverage_search_to_its_patient_payor_and_back_by_read(fhir_server):
    server, pid, _ = fhir_server

    bundle = first_page(Coverage.where(struct={"patient": pid}).include("beneficiary"), server)

    [coverage] = [e.resource for e in bundle.entry if isinstance(e.resource, Coverage)]
    assert coverage.beneficiary.resolved(Patient).id == pid
    payor = coverage.payor[0].resolved(Organization)  # contained
    assert len(payor.identifier[0].value) == 8
    insurer = Organization.read(f"insurer-{payor.identifier[0].value}", server)
    assert insurer.identifier[0].value == payor.identifier[0].value
    again = Coverage.read(coverage.id, server)
    assert again.as_json() == coverage.as_json()


def test_from_a_coverage_search_to_each_public_expense_payer_and_back_by_read(fhir_server):
    # given the patient holds two 公費 certificates in force
    server, pid, record = fhir_server
    for programme, recipient, ceiling in (("54", with_check_digit("123456"), 10000), ("12", "", None)):
        PublicExpenseCertificate.objects.create(
            person=record.person,
            programme=programme,
            payer_number=with_check_digit(programme + "13001"),
            recipient_number=recipient,
            valid_from=date.today() - timedelta(days=1),
            monthly_self_pay_limit=ceiling,
        )

    # when fhirclient searches the eligibility
    bundle = first_page(Coverage.where(struct={"patient": pid}).include("beneficiary"), server)

    # then beside the insurance Coverage each certificate is one, whose payer it resolves (contained)
    coverages = [e.resource for e in bundle.entry if isinstance(e.resource, Coverage)]
    public = [c for c in coverages if c.type.coding[0].code == fhir.PUBLIC_EXPENSE]
    assert len(coverages) == 3 and bundle.total == 3
    assert [c.type.coding[1].code for c in public] == ["54", "12"]
    for coverage in public:
        assert coverage.beneficiary.resolved(Patient).id == pid
        payer = coverage.payor[0].resolved(Organization)
        assert payer.identifier[0].system == fhir.SYSTEM_PUBLIC_PAYER_NUMBER
        assert payer.identifier[0].value == with_check_digit(coverage.type.coding[1].code + "13001")
        assert Coverage.read(coverage.id, server).as_json() == coverage.as_json()
    assert public[0].costToBeneficiary[0].valueMoney.value == 10000
    assert public[0].subscriberId == with_check_digit("123456") and public[1].subscriberId is None


def test_from_a_patient_search_to_each_consent_and_its_institution(fhir_server):
    server, pid, _ = fhir_server

    bundle = first_page(FHIRSearch(Patient).include("patient", FhirConsent, reverse=True), server)

    consents = [e.resource for e in bundle.entry if isinstance(e.resource, FhirConsent)]
    assert consents and bundle.total == 1
    for consent in consents:
        assert consent.patient.resolved(Patient).id == pid
        institution = consent.organization[0].resolved(Organization)
        assert institution.identifier[0].value == CODE
        read = FhirConsent.read(consent.id, server)
        items = [p.code[0].coding[0].code for p in read.provision.provision]
        assert items == ["qualification", "medication", "treatment", "checkup"]


def test_checkups_and_treatment_searches_resolve_their_patient_and_each_read_is_logged(fhir_server):
    server, pid, record = fhir_server
    before = AccessEvent.objects.filter(person_id=record.person_id, outcome="ok").count()

    observations = first_page(Observation.where(struct={"patient": pid}).include("subject"), server)
    procedures = first_page(Procedure.where(struct={"patient": pid}).include("subject"), server)

    for bundle, kind in ((observations, Observation), (procedures, Procedure)):
        for entry in bundle.entry or []:
            assert entry.fullUrl.endswith(f"/{entry.resource.resource_type}/{entry.resource.id}")
            if isinstance(entry.resource, kind):
                assert entry.resource.subject.resolved(Patient).id == pid
    # each search and each _included Patient is a read with its access-log row
    assert AccessEvent.objects.filter(person_id=record.person_id, outcome="ok").count() == before + 4
