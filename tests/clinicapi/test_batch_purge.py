"""Expired batch results are deleted, with their chunks; batches still fetchable stay."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from clinicapi import batch
from clinicapi.models import BatchInquiry, BatchResultChunk
from tests.clinicapi.conftest import register_consent
from tests.clinicapi.test_data_batch import keys_of, submit

pytestmark = pytest.mark.django_db


def test_expired_batches_are_purged_with_their_results(clinic_api, clinic, make_patient):
    # given two stored batches of a consented patient, one past its expiry
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    old = submit(clinic_api, [keys_of(patient)] * 1500).json()["reception_number"]
    kept = submit(clinic_api, [keys_of(patient)]).json()["reception_number"]
    BatchInquiry.objects.filter(reception_number=old).update(
        expires_at=timezone.now() - batch.PURGE_GRACE - datetime.timedelta(seconds=1)
    )

    # when the daily purge runs
    out = StringIO()
    call_command("purge_batches", stdout=out)

    # then the expired batch and both its chunks are gone, the other is still fetchable
    assert out.getvalue().strip() == "deleted 1 expired batch(es) and 2 stored result chunk(s)"
    assert not BatchInquiry.objects.filter(reception_number=old).exists()
    assert not BatchResultChunk.objects.filter(batch__reception_number=old).exists()
    assert BatchResultChunk.objects.filter(batch__reception_number=kept).count() == 1
    assert clinic_api.get(f"/api/v1/batches/{kept}").status_code == 200
    assert clinic_api.get(f"/api/v1/batches/{old}").status_code == 404


def test_a_purge_leaves_batches_expired_only_just_now(clinic_api, clinic, make_patient):
    # given a batch that expired a moment ago (a fetch begun before its expiry may still be reading it)
    patient = make_patient()
    register_consent(patient, clinic, "home_visit", ["medication"])
    number = submit(clinic_api, [keys_of(patient)]).json()["reception_number"]
    BatchInquiry.objects.filter(reception_number=number).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )

    out = StringIO()
    call_command("purge_batches", stdout=out)

    assert "deleted 0 expired batch(es)" in out.getvalue()
    assert BatchInquiry.objects.count() == 1 and BatchResultChunk.objects.count() == 1
