"""The rollup equals a direct count over the access log, run once or incrementally."""

import datetime
from collections import Counter

import pytest
from django.core.management import call_command

from homeconsent.audit.models import AccessEvent
from homeconsent.consent.models import Consent
from homeconsent.usage.models import MonthlyUsage, RollupWatermark
from homeconsent.usage.rollup import do_rollup_usage

from .conftest import JST

pytestmark = pytest.mark.django_db
MONTHS = [(2026, 3), (2026, 4), (2026, 5)]
INSTITUTION = ["institution_client", "institution_staff"]


def month_range(year, month):
    start = datetime.datetime(year, month, 1, tzinfo=JST)
    return start, datetime.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=JST)


def direct_count(year, month) -> Counter:
    """Counted straight from the log with plain filters, independently of the rollup's code."""
    start, end = month_range(year, month)
    rows = AccessEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    reads = rows.filter(actor_type__in=INSTITUTION, outcome="ok", person__isnull=False)
    app_ids = [str(pk) for pk in Consent.objects.filter(authenticator="app").values_list("pk", flat=True)]
    by_consent = reads.filter(basis="consent").exclude(detail__read__in=["batch", "batch_results"])
    counts = Counter(
        {
            ("read", "reader"): by_consent.exclude(consent_id__in=app_ids).count(),
            ("read", "app"): by_consent.filter(consent_id__in=app_ids).count(),
            ("read", "batch"): reads.filter(basis="consent", detail__read="batch").count(),
            ("consent_registered", ""): rows.filter(
                outcome="ok", detail__action="consent_registered"
            ).count(),
            ("consent_cancelled", ""): rows.filter(outcome="ok", detail__action="consent_cancelled").count(),
        }
    )
    for basis in ("requery", "emergency", "disaster", "qualification_only", "paper_certificate"):
        counts[("read", basis)] = reads.filter(basis=basis).count()
    for code in reads.exclude(basis="consent", detail__read="batch_results").values_list(
        "institution_code", flat=True
    ):
        counts[("prefecture", code[:2])] += 1
        counts[("facility_type", code[2])] += 1
    return +counts


def rolled_up(year, month) -> Counter:
    counts = Counter()
    for row in MonthlyUsage.objects.filter(month=datetime.date(year, month, 1)):
        counts[(row.metric, row.method)] += row.count
        if row.metric == "read":
            counts[("prefecture", row.prefecture)] += row.count
            counts[("facility_type", row.facility_type)] += row.count
    return +counts


def test_the_rollup_equals_a_direct_count_of_every_method_type_and_prefecture(generate_log):
    generate_log(400, MONTHS, seed=1)
    assert do_rollup_usage(chunk=37) == AccessEvent.objects.count()
    for year, month in MONTHS:
        expected = direct_count(year, month)
        assert (
            expected[("read", "app")]
            and expected[("read", "emergency")]
            and expected[("consent_cancelled", "")]
        )
        assert rolled_up(year, month) == expected


def test_incremental_runs_read_only_new_rows_and_still_equal_the_direct_count(generate_log):
    generate_log(200, MONTHS[:2], seed=2)
    first = do_rollup_usage(chunk=50)
    marks = dict(RollupWatermark.objects.values_list("chain", "seq"))
    # More rows, into a month already rolled up and into a new one.
    generate_log(150, MONTHS[1:], seed=3)
    second = do_rollup_usage(chunk=50)
    assert first == 200 and second == 150
    assert (
        sum(dict(RollupWatermark.objects.values_list("chain", "seq")).values()) == sum(marks.values()) + 150
    )
    for year, month in MONTHS:
        assert rolled_up(year, month) == direct_count(year, month)
    assert do_rollup_usage() == 0  # nothing new: nothing read, nothing added
    for year, month in MONTHS:
        assert rolled_up(year, month) == direct_count(year, month)


def test_a_row_on_the_first_of_a_month_in_japan_counts_in_that_month(generate_log, clock):
    generate_log(60, [(2026, 4)], seed=4)
    call_command("rollup_usage")
    utc_march = AccessEvent.objects.filter(occurred_at__lt=datetime.datetime(2026, 4, 1, tzinfo=datetime.UTC))
    assert utc_march.exists()  # 1 April 00:30 JST is still March in UTC ...
    assert not MonthlyUsage.objects.filter(month=datetime.date(2026, 3, 1)).exists()  # ... and April here
    assert rolled_up(2026, 4) == direct_count(2026, 4)


def test_the_stats_hold_no_person_actor_or_consent():
    fields = {f.name for f in MonthlyUsage._meta.get_fields()}
    assert fields == {"id", "month", "metric", "method", "facility_type", "prefecture", "count"}
