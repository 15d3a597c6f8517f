"""What one eligibility read costs in queries: pinned, so a change cannot quietly add round trips
to the API's hottest path (bench/clinic_api.py measures the time)."""

import pytest

from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from tests.clinicapi.conftest import register_consent

pytestmark = pytest.mark.django_db


def test_one_eligibility_read_is_at_most_six_statements(
    clinic_api, clinic, make_patient, django_assert_max_num_queries
):
    # given a consented patient whose consent includes 限度額 (all three certificate tables asked)
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication", "limit_certificate"])
    url = f"/api/v1/patients/{patient_id_for(clinic.code, patient.person.pk)}/eligibility"
    rows_before = AccessEvent.objects.filter(person=patient.person).count()

    # when the clinic reads the eligibility once (token, consent, registry, access log)
    # then: token+client, consent, periods with certificates, head lock, insert, head update (one
    # statement with the insert on PostgreSQL) — and the savepoint pair of the read's transaction
    # inside the test's own (BEGIN/COMMIT when served)
    with django_assert_max_num_queries(8) as captured:
        response = clinic_api.get(url)

    assert response.status_code == 200
    assert response.json()["qualification_validity"] == "1"
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) <= 6, statements
    assert AccessEvent.objects.filter(person=patient.person).count() == rows_before + 1
