"""The operator admin's own state: failed sign-ins and locks of operator accounts (admin_site.py)."""

from django.conf import settings
from django.db import models


class OperatorSignin(models.Model):
    """Failed admin sign-ins of one account in a row, and its lock. In the database (like the
    console's StaffMembership.failed_attempts) so every worker agrees."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="operator_signin"
    )
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.user_id}: {self.failed_attempts} failed, locked until {self.locked_until}"
