"""Staff of an institution: who may use its console, in which role, and their sign-in state.

State changes go through homeconsent.accounts.services; nothing here decides anything. The tables
keep the names they had when these models lived in the console app (console_*).
"""

from django.conf import settings
from django.db import models

from homeconsent.registry.models import Institution


class StaffRole(models.TextChoices):
    INSTITUTION_ADMIN = "institution_admin", "管理者"
    STAFF = "staff", "職員"


class StaffMembership(models.Model):
    """A Django user working for one institution. The lockout counters live here (per account, in the
    database, so every worker sees them); session_generation ends every session when it moves."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="console_staff"
    )
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="console_staff")
    role = models.CharField("役割", max_length=20, choices=StaffRole.choices, default=StaffRole.STAFF)
    created_at = models.DateTimeField()
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    session_generation = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "console_staffmembership"

    def __str__(self):
        return f"{self.user} ({self.role}, {self.institution_id})"

    @property
    def is_admin(self) -> bool:
        return self.role == StaffRole.INSTITUTION_ADMIN


class EnrolmentLink(models.Model):
    """A one-time link with which a staff member sets a password and enrols a TOTP device.

    Only the SHA-256 of the token is stored: the database never holds a usable link.
    """

    membership = models.ForeignKey(StaffMembership, on_delete=models.CASCADE, related_name="enrolment_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150)

    class Meta:
        db_table = "console_enrolmentlink"

    def __str__(self):
        return f"enrolment link of {self.membership_id}"
