"""一括照会: per-entry results and counts, the 10,000-entry limit, logging, and a query count that
does not grow with the batch."""

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinicapi.patients import patient_id_for
from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent.services import do_cancel_all
from homeconsent.registry.models import Person, Qualification
from tests.clinicapi.conftest import register_consent

pytestmark = pytest.mark.django_db


def bulk_persons(insurer, count, start=0):
    """`count` persons with one valid qualification each, written in bulk; returns their search keys."""
    persons = Person.objects.bulk_create(
        Person(
            name=f"一括 {i}",
            name_kana="イッカツ",
            sex="1",
            birth_date=datetime.date(1950, 1, 1) + datetime.timedelta(days=i % 9000),
        )
        for i in range(start, start + count)
    )
    Qualification.objects.bulk_create(
        Qualification(
            person=p,
            insurer=insurer,
            symbol="77",
            number=f"B{start + i}",
            branch="00",
            personal_family="1",
            acquired_on=datetime.date(2020, 4, 1),
            contribution_ratio="030",
        )
        for i, p in enumerate(persons)
    )
    return [
        {
            "insurer_number": insurer.number,
            "symbol": "77",
            "number": f"B{start + i}",
            "branch": "00",
            "birth_date": p.birth_date.isoformat(),
        }
        for i, p in enumerate(persons)
    ]


def keys_of(patient):
    q = patient.person.qualifications.get()
    return {
        "insurer_number": q.insurer.number,
        "symbol": q.symbol,
        "number": q.number,
        "branch": q.branch,
        "birth_date": patient.person.birth_date.isoformat(),
    }


def submit(api, entries, **extra):
    return api.post("/api/v1/batches", {"entries": entries, **extra})


def all_results(api, reception_number):
    entries, offset = [], 0
    while offset is not None:
        page = api.get(f"/api/v1/batches/{reception_number}", offset=offset).json()
        entries += page["entries"]
        offset = page["next_offset"]
    return page, entries


def test_a_small_batch_answers_each_entry_with_its_status(clinic_api, clinic, insurer, make_patient):
    # given a consented patient, a patient without consent here, and keys of nobody
    consented, stranger = make_patient(), make_patient()
    register_consent(consented, clinic, "home_visit", ["medication", "limit_certificate"])
    entries = [
        keys_of(consented),
        keys_of(stranger),
        {**keys_of(consented), "number": "404"},
        {**keys_of(consented), "insurer_number": "01130013"},
        "not an object",
        keys_of(consented),
    ]

    received = submit(clinic_api, entries)
    page, results = all_results(clinic_api, received.json()["reception_number"])

    # then one result per entry, in order, with counts of normal and error rows
    assert received.status_code == 201
    assert (page["entry_count"], page["normal_count"], page["error_count"]) == (6, 4, 2)
    assert [r["index"] for r in results] == list(range(6))
    assert [r["segment_of_result"] for r in results] == ["1", "1", "1", "9", "9", "1"]
    assert [r.get("qualification_validity") for r in results] == ["1", "4", "4", None, None, "1"]
    assert results[0]["patient_id"] == patient_id_for(clinic.code, consented.person.pk)
    assert "limit_application_certificate_related_info" in results[0]
    # the stranger answers exactly like nobody
    assert {k: v for k, v in results[1].items() if k != "index"} == {
        k: v for k, v in results[2].items() if k != "index"
    }
    assert results[3]["error_code"] == "batch_entry_keys_invalid"
    assert results[3]["errors"][0]["field"] == "insurer_number"
    assert results[4]["error_code"] == "batch_entry_not_object"
    # one ok row per entry that read the consented patient, a refused one for the stranger
    assert (
        AccessEvent.objects.filter(person=consented.person, detail__read="batch", outcome="ok").count() == 2
    )
    # and the fetch logged the two disclosed entries again
    assert AccessEvent.objects.filter(person=consented.person, detail__read="batch_results").count() == 2
    assert set(
        AccessEvent.objects.filter(person=stranger.person, actor_type="institution_client").values_list(
            "outcome", flat=True
        )
    ) == {"refused"}


def test_results_are_only_for_the_submitting_institution(clinic_api, other_api, make_patient, clinic):
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    number = submit(clinic_api, [keys_of(patient)]).json()["reception_number"]

    theirs = other_api.get(f"/api/v1/batches/{number}")

    assert theirs.status_code == 404 and theirs.json()["code"] == "not_found"
    assert clinic_api.get(f"/api/v1/batches/{number}").status_code == 200


def test_stored_results_follow_a_later_cancellation(clinic_api, clinic, make_patient):
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    number = submit(clinic_api, [keys_of(patient)]).json()["reception_number"]
    assert clinic_api.get(f"/api/v1/batches/{number}").json()["entries"][0]["qualification_validity"] == "1"

    do_cancel_all(patient.person, by="patient", actor_id="card:x")

    entry = clinic_api.get(f"/api/v1/batches/{number}").json()["entries"][0]
    assert (
        entry["qualification_validity"] == "4"
        and entry["patient_id"] is None
        and entry["qualification"] is None
    )


def test_malformed_batches_are_refused_with_a_code(clinic_api):
    empty = submit(clinic_api, [])
    not_list = submit(clinic_api, {"a": 1})
    assert (empty.status_code, empty.json()["code"]) == (400, "batch_empty")
    assert (not_list.status_code, not_list.json()["code"]) == (400, "batch_entries_not_list")


def test_ten_thousand_entries_in_one_batch_and_not_one_more(clinic_api, clinic, insurer, make_patient):
    # given 9,997 registry persons without consent, two consented patients and one bad entry
    consented = [make_patient(), make_patient()]
    for patient in consented:
        register_consent(patient, clinic, "home_visit", ["medication"])
    entries = bulk_persons(insurer, 9997) + [keys_of(p) for p in consented] + [{"insurer_number": "1"}]
    rows_before = AccessEvent.objects.count()

    received = submit(clinic_api, entries)
    too_many = submit(clinic_api, entries + [keys_of(consented[0])])
    page, results = all_results(clinic_api, received.json()["reception_number"])

    # then every entry has its status and the counts add up
    assert received.status_code == 201, received.json()
    assert (page["entry_count"], page["normal_count"], page["error_count"]) == (10_000, 9_999, 1)
    assert len(results) == 10_000
    validities = [r.get("qualification_validity") for r in results]
    assert validities.count("4") == 9_997 and validities[9_997:] == ["1", "1", None]
    # one ok row per consented entry, one refused row per person seen without consent
    rows = AccessEvent.objects.filter(pk__gt=0).count() - rows_before
    assert AccessEvent.objects.filter(detail__read="batch", outcome="ok").count() == 2
    assert AccessEvent.objects.filter(detail__read="batch", outcome="refused").count() == 9_997
    assert AccessEvent.objects.filter(detail__read="batch_results").count() == 2  # the fetch
    assert rows == 9_999 + 2
    assert verify_log().broken is None
    # and one entry more is refused as a whole
    assert too_many.status_code == 413 and too_many.json()["code"] == "batch_too_many_entries"


def test_the_query_count_of_a_batch_does_not_grow_with_its_size(
    clinic_api, clinic, insurer, make_patient, django_assert_max_num_queries
):
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    keys = bulk_persons(insurer, 10_000 - 1)
    small = keys[:99] + [keys_of(patient)]
    large = keys + [keys_of(patient)]
    submit(clinic_api, small)  # every access-log chain has its head now

    with CaptureQueriesContext(connection) as hundred:
        assert submit(clinic_api, small).status_code == 201
    with django_assert_max_num_queries(len(hundred)):
        response = submit(clinic_api, large)

    assert response.status_code == 201 and response.json()["entry_count"] == 10_000
    assert len(hundred) < 30


def test_a_batch_body_over_the_general_limit_is_accepted_on_the_batch_url_only(clinic_api, settings):
    # given 10,000 entries whose body is larger than the general 1 MiB limit (bad keys, long numbers)
    entries = [
        {"insurer_number": "1", "number": "９" * 38, "branch": "00", "birth_date": "1950-01-01"}
    ] * 10_000
    body = json.dumps({"entries": entries})
    assert settings.CLINICAPI_MAX_BODY_BYTES < len(body.encode()) < settings.CLINICAPI_BATCH_MAX_BODY_BYTES

    batch = clinic_api.http.post(
        "/api/v1/batches",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {clinic_api.token}",
    )
    elsewhere = clinic_api.http.post(
        "/api/v1/requery",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {clinic_api.token}",
    )

    assert batch.status_code == 201 and batch.json()["error_count"] == 10_000
    assert elsewhere.status_code == 413 and elsewhere.json()["code"] == "request_too_large"


def test_a_batch_submission_reports_its_server_time(clinic_api, make_patient):
    # given a batch and a fetch of its results
    received = submit(clinic_api, [keys_of(make_patient())])
    fetched = clinic_api.get(f"/api/v1/batches/{received.json()['reception_number']}")

    # then the submission says how long the server took (W3C Server-Timing, in steps of 10 ms), the
    # fetch does not
    name, duration = received["Server-Timing"].split(";dur=")
    assert name == "app" and int(duration) >= 0 and int(duration) % 10 == 0
    assert "Server-Timing" not in fetched


def test_keys_with_characters_no_text_can_hold_are_error_rows_not_a_failed_batch(
    clinic_api, clinic, make_patient
):
    # given a good entry and entries whose 記号 or 番号 hold a NUL or a lone surrogate (no text can)
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    good = keys_of(patient)
    entries = [
        good,
        {**good, "number": "1\x002"},
        {**good, "symbol": "ab\x00"},
        {**good, "number": "\ud800"},
    ]

    # when the batch is submitted (the lone surrogate travels as its JSON escape)
    received = submit(clinic_api, entries)
    page, results = all_results(clinic_api, received.json()["reception_number"])

    # then the batch is stored, the good entry answers, and each bad one is an error row naming its field
    assert received.status_code == 201
    assert (page["normal_count"], page["error_count"]) == (1, 3)
    assert results[0]["qualification_validity"] == "1"
    assert [(r["error_code"], r["errors"][0]["code"], r["errors"][0]["field"]) for r in results[1:]] == [
        ("batch_entry_keys_invalid", "characters_invalid", "number"),
        ("batch_entry_keys_invalid", "characters_invalid", "symbol"),
        ("batch_entry_keys_invalid", "characters_invalid", "number"),
    ]
