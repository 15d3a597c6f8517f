"""Access without the usual consent: emergency viewing (救急時医療情報閲覧) and disaster mode (災害時).

State changes go through services.py; nothing here decides anything. Staff are referred to by their
Django user and institution (not the console's model): the rules need only who and where.
"""

from django.conf import settings
from django.db import models


class EmergencyReason(models.TextChoices):
    UNCONSCIOUS = "unconscious", "意識障害"
    SHOCK = "shock", "ショック状態"
    CARDIAC_ARREST = "cardiac_arrest", "心肺停止"
    SEVERE_TRAUMA = "severe_trauma", "重症外傷"
    CANNOT_COMMUNICATE = "cannot_communicate", "意思疎通が困難"
    OTHER = "other", "その他"


class DisasterConsent(models.TextChoices):
    """How consent stands in disaster mode: given orally, or why it could not be."""

    ORAL = "oral", "口頭で同意を得た"
    UNCONSCIOUS = "unconscious", "意識がなく同意を得られない"
    CANNOT_EXPRESS = "cannot_express", "意思表示ができない"
    OTHER = "other", "その他"


class SearchMethod(models.TextChoices):
    CARD = "card", "マイナンバーカード（暗証番号なし）"
    ATTRIBUTES = "attributes", "基本4情報"
    INSURER_KEYS = "insurer_keys", "保険者番号等"


class EmergencyPermission(models.Model):
    """The institution admin's grant of emergency viewing to one named staff member."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField()
    granted_by = models.CharField(max_length=150)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "institution"],
                condition=models.Q(revoked_at__isnull=True),
                name="emergency_permission_one_in_force",
            )
        ]

    def __str__(self):
        return f"emergency permission of {self.user_id} at {self.institution_id}"


class DisasterScope(models.Model):
    """An operator-opened disaster scope: persons living in these municipalities, these days."""

    name = models.CharField("名称", max_length=100)
    municipality_codes = models.JSONField("対象市区町村コード", default=list)
    starts_on = models.DateField("開始日")
    ends_on = models.DateField("終了日")
    opened_at = models.DateTimeField("開始操作日時")
    opened_by = models.CharField("開始した運営者", max_length=150)
    closed_at = models.DateTimeField("早期終了日時", null=True, blank=True)
    closed_by = models.CharField("終了した運営者", max_length=150, blank=True)

    class Meta:
        verbose_name = "災害時モードの範囲 / disaster scope"
        verbose_name_plural = "災害時モードの範囲 / disaster scopes"

    def __str__(self):
        return f"{self.name} ({self.starts_on:%Y-%m-%d}–{self.ends_on:%Y-%m-%d})"


class EncounterBasis(models.TextChoices):
    EMERGENCY = "emergency", "救急時"
    DISASTER = "disaster", "災害時"


class Encounter(models.Model):
    """One found patient for one viewer, for a limited time: views need it, and it is not a consent."""

    token = models.CharField(max_length=43, unique=True)  # what pages and the API name it by
    basis = models.CharField(max_length=16, choices=EncounterBasis.choices)
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="+")
    actor_type = models.CharField(max_length=32)
    actor_id = models.CharField(max_length=150)
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    scope = models.ForeignKey(
        DisasterScope, null=True, blank=True, on_delete=models.PROTECT, related_name="encounters"
    )
    method = models.CharField(max_length=16, choices=SearchMethod.choices)
    reason = models.CharField(max_length=32)
    reason_text = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["institution", "started_at"])]

    def __str__(self):
        return f"{self.basis} encounter {self.pk}"
