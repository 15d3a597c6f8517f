"""Usage statistics: monthly counts rolled up from the access log, and how far the rollup has read.

Counts only: no person, actor or consent is stored here. A month is the Japan-time calendar month
of the event (its first day). Rows are changed only by rollup.do_rollup_usage.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Metric(models.TextChoices):
    READ = "read", _("Reads of a person's information")
    CONSENT_REGISTERED = "consent_registered", _("Consents registered")
    CONSENT_CANCELLED = "consent_cancelled", _("Consents cancelled")


class Method(models.TextChoices):
    """How an institution reached a person's information (for Metric.READ; blank for consents)."""

    READER = "reader", _("Card reader route")
    APP = "app", _("Authentication app route")
    REQUERY = "requery", _("Re-query")
    BATCH = "batch", _("Batch inquiry")
    EMERGENCY = "emergency", _("Emergency viewing")
    DISASTER = "disaster", _("Disaster mode")
    QUALIFICATION_ONLY = "qualification_only", _("Qualification only")
    PAPER_CERTIFICATE = "paper_certificate", _("Paper eligibility certificate (資格確認書)")


class MonthlyUsage(models.Model):
    month = models.DateField()  # first day of the month, Japan time
    metric = models.CharField(max_length=24, choices=Metric.choices)
    method = models.CharField(max_length=24, choices=Method.choices, blank=True)
    facility_type = models.CharField(max_length=1, blank=True)  # institution code's 3rd digit
    prefecture = models.CharField(max_length=2, blank=True)  # institution code's first two digits
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "monthly usage count"
        constraints = [
            models.UniqueConstraint(
                fields=["month", "metric", "method", "facility_type", "prefecture"], name="usage_monthly_key"
            )
        ]


class RollupWatermark(models.Model):
    """The last access-log sequence number rolled up, per chain. Within a chain, appends are ordered
    by the chain head's lock, so a row with a higher seq never becomes visible before a lower one: a
    per-chain seq is a gap-free watermark (a global id is not: ids are handed out before commit)."""

    chain = models.PositiveIntegerField(primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "usage rollup watermark"
