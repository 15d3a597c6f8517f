"""一括照会 fetches are reads: 限度額 follows the consent in force at fetch time, and every fetch logs
each disclosed entry, with queries that do not grow with the page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent.services import do_cancel_all
from tests.clinicapi.conftest import register_consent
from tests.clinicapi.test_data_batch import bulk_persons, keys_of, submit

pytestmark = pytest.mark.django_db

LIMIT = "limit_application_certificate_related_info"


def fetch(api, number, **query):
    return api.get(f"/api/v1/batches/{number}", **query).json()["entries"]


def test_limit_info_is_dropped_once_the_consent_in_force_no_longer_includes_it(
    clinic_api, clinic, make_patient
):
    # given a batch submitted while the consent included 限度額
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication", "limit_certificate"])
    number = submit(clinic_api, [keys_of(patient)]).json()["reception_number"]
    assert LIMIT in fetch(clinic_api, number)[0]

    # when the patient re-consents without 限度額
    do_cancel_all(patient.person, by="patient", actor_id="card:x")
    register_consent(patient, clinic, "home_visit", ["medication"])
    entry = fetch(clinic_api, number)[0]

    # then qualification is still shown, 限度額 is not, and the log row says what was read
    assert entry["qualification_validity"] == "1" and entry["patient_id"]
    assert LIMIT not in entry
    last = (
        AccessEvent.objects.filter(person=patient.person, detail__read="batch_results")
        .order_by("-pk")
        .first()
    )
    assert last.items == ["qualification"] and last.detail["reception_number"] == number


def test_each_fetch_logs_one_row_per_disclosed_entry(clinic_api, clinic, make_patient):
    # given a batch with a consented patient twice and a stranger
    consented, stranger = make_patient(), make_patient()
    register_consent(consented, clinic, "home_visit", ["medication", "limit_certificate"])
    number = submit(clinic_api, [keys_of(consented), keys_of(stranger), keys_of(consented)]).json()[
        "reception_number"
    ]

    # when it is fetched twice
    fetch(clinic_api, number)
    fetch(clinic_api, number)

    # then two rows per fetch for the consented patient (with 限度額), none for the stranger
    rows = AccessEvent.objects.filter(detail__read="batch_results")
    assert rows.count() == 4
    assert set(rows.values_list("person", flat=True)) == {consented.person.pk}
    assert all(r.items == ["qualification", "limit_certificate"] and r.outcome == "ok" for r in rows)
    assert sorted(r.detail["index"] for r in rows) == [0, 0, 2, 2]
    assert verify_log().broken is None

    # and once the consent ends, a fetch discloses nothing and logs nothing
    do_cancel_all(consented.person, by="patient", actor_id="card:x")
    fetch(clinic_api, number)
    assert rows.count() == 4


def test_fetch_queries_do_not_grow_with_the_page(clinic_api, clinic, insurer, make_patient):
    # given two batches of consented patients, one of 2 and one of 6
    patients = [make_patient() for _ in range(6)]
    for patient in patients:
        register_consent(patient, clinic, "home_visit", ["medication", "limit_certificate"])
    small = submit(clinic_api, [keys_of(p) for p in patients[:2]] + bulk_persons(insurer, 3)).json()[
        "reception_number"
    ]
    large = submit(clinic_api, [keys_of(p) for p in patients] + bulk_persons(insurer, 30, start=3)).json()[
        "reception_number"
    ]

    # when each is fetched
    with CaptureQueriesContext(connection) as small_queries:
        fetch(clinic_api, small)
    with CaptureQueriesContext(connection) as large_queries:
        fetch(clinic_api, large)

    # then the same number of queries
    assert AccessEvent.objects.filter(detail__read="batch_results").count() == 8
    assert len(large_queries) == len(small_queries)
