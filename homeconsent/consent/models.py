"""Consent: card-auth challenges, and the consent records they prove."""

import base64
import json
from datetime import UTC

from django.db import models

from homeconsent.jpki import challenge_message

# DER prefix of DigestInfo{ sha256, NULL } (RFC 8017 §9.2 note 1): prefix + 32-byte hash.
SHA256_DIGEST_INFO_PREFIX = challenge_message.SHA256_DIGEST_INFO_PREFIX
CHALLENGE_MESSAGE_VERSION = challenge_message.VERSION


class ChallengePurpose(models.TextChoices):
    CONSENT = "consent", "同意登録"
    PORTAL_LOGIN = "portal_login", "ポータルへのログイン"
    QUALIFICATION_ONLY = "qualification_only", "資格確認のみ"


class CardAuthChallenge(models.Model):
    """What a card signs to prove it is present: one use, a few minutes.

    The challenge message (message()) is the canonical encoding of the fields that a signature
    binds: compact JSON, keys sorted, ASCII only (non-ASCII as \\u escapes), UTF-8 bytes:

        {"details":{...},"expires_at":"2026-11-25T06:05:00Z","format":"homeconsent-card-challenge",
         "institution":"1310000017","items":["medication","qualification"],"kind":"home_visit",
         "nonce":"<32 random bytes, base64url without padding>","origin":"https://consent.example.jp",
         "purpose":"consent","v":2}

    (jpki.challenge_message, which the reader bridge checks before it lets the card sign; challenges
    issued before version 2 keep their version-1 message, without format and origin.)

    institution is the 10-digit code or null, items are sorted and unique, expires_at is UTC to the
    second, details holds any further binding fields given to issue_challenge (e.g. a visit date).
    The card signs digest_info(): the DER DigestInfo of SHA-256(message).
    """

    nonce = models.CharField(max_length=43, unique=True)  # base64url of 32 random bytes
    purpose = models.CharField(max_length=20, choices=ChallengePurpose.choices)
    institution = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    items = models.JSONField(default=list)
    kind = models.CharField(max_length=30, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # How the one use ended: "verified" or the refusal code; and the card that proved it.
    outcome = models.CharField(max_length=40, blank=True)
    card_certificate = models.ForeignKey(
        "registry.CardCertificate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The page origin the challenge was issued to (bound in the message; the bridge compares it with
    # the page it talks to), and the message version: 1 for challenges issued before origins.
    origin = models.CharField(max_length=200, blank=True)
    message_version = models.PositiveSmallIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self):
        return f"{self.purpose} challenge {self.nonce[:8]}…"

    @property
    def nonce_bytes(self) -> bytes:
        return base64.urlsafe_b64decode(self.nonce + "=")

    def message(self) -> bytes:
        institution = self.institution.code if self.institution_id else None
        if self.message_version >= 2:
            return challenge_message.challenge_message(
                nonce=self.nonce,
                purpose=self.purpose,
                institution=institution,
                items=self.items,
                kind=self.kind,
                details=self.details,
                expires_at=self.expires_at,
                origin=self.origin,
            )
        fields = {
            "v": 1,
            "nonce": self.nonce,
            "purpose": self.purpose,
            "institution": institution,
            "items": sorted(set(self.items)),
            "kind": self.kind,
            "details": self.details,
            "expires_at": self.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def digest_info(self) -> bytes:
        return challenge_message.digest_info(self.message())


class InstitutionEntry(models.Model):
    """The patient-facing entry URL of one institution: /consent/e/<token>/ and its QR code.

    The token is random so the URL cannot be guessed from the institution code; rotating it (a
    leaked poster, a lost tablet) makes the old URL and QR code show "not found" at once.
    """

    institution = models.OneToOneField(
        "registry.Institution", on_delete=models.CASCADE, related_name="consent_entry"
    )
    token = models.CharField(max_length=43, unique=True)
    rotated_at = models.DateTimeField()

    def __str__(self):
        return f"entry of {self.institution_id}"


# --- consent records ---------------------------------------------------------------------------
class ConsentKind(models.TextChoices):
    HOME_VISIT = "home_visit", "訪問診療・訪問看護"
    TELEHEALTH = "telehealth", "オンライン診療"
    QUALIFICATION_ONLY = "qualification_only", "資格確認のみ"
    DISASTER = "disaster", "災害時"


class ConsentItem(models.TextChoices):
    QUALIFICATION = "qualification", "資格情報"
    MEDICATION = "medication", "薬剤情報"
    TREATMENT = "treatment", "診療情報"
    CHECKUP = "checkup", "特定健診等情報"
    OPERATION = "operation", "手術情報"
    LIMIT_CERTIFICATE = "limit_certificate", "限度額適用認定証関連情報"


class ConsentStatus(models.TextChoices):
    ACTIVE = "active", "有効"
    SUPERSEDED = "superseded", "更新済み"
    CANCELLED = "cancelled", "取消済み"
    # Never stored by a job: an active row past available_until *reads* as expired (effective_status).
    EXPIRED = "expired", "期限切れ"


class ConsentEndedBy(models.TextChoices):
    PATIENT = "patient", "本人による取消"
    INSTITUTION = "institution", "医療機関等による取消"
    SUPERSEDED = "superseded", "新しい同意で更新"
    EXPIRED = "expired", "期限切れ"


class Consent(models.Model):
    """One person's consent to one institution, proved by their card (see consent/services.py).

    Rows are never deleted: an update supersedes the active row of the same kind (telehealth: of the
    same visit date; status superseded, superseded_by set), a cancellation ends it. available_until is exclusive (the consent holds while now is
    before it); null means open-ended (home visits while care continues). Expiry is computed on
    read: an "active" row past available_until is not in force (is_in_force / effective_status).
    """

    person = models.ForeignKey(
        "registry.Person",
        on_delete=models.PROTECT,
        related_name="consents",
        db_index=False,  # the (person, …) index below serves lookups by person
    )
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="consents")
    kind = models.CharField("種別", max_length=20, choices=ConsentKind.choices)
    items = models.JSONField("同意した情報", default=list)  # sorted, always with "qualification"
    given_at = models.DateTimeField("同意日時")
    available_until = models.DateTimeField("有効期限", null=True, blank=True)
    visit_date = models.DateField("診療予定日", null=True, blank=True)
    # The proof: the single-use challenge the card signed, the card, and the signature (base64).
    challenge = models.OneToOneField(
        CardAuthChallenge, null=True, blank=True, on_delete=models.PROTECT, related_name="consent"
    )
    card_certificate = models.ForeignKey(
        "registry.CardCertificate", null=True, blank=True, on_delete=models.PROTECT, related_name="consents"
    )
    signature = models.TextField(blank=True)
    # Which authenticator proved it (proof.Authenticator): the card reader (card_certificate and
    # signature above) or the authentication app (the ID token, compact JWS, and the provider's
    # public JWK that signed it). manage.py verify_consent_evidence re-verifies either offline.
    authenticator = models.CharField(max_length=10, default="reader")
    id_token = models.TextField(blank=True)
    provider_key = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=ConsentStatus.choices, default=ConsentStatus.ACTIVE)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=12, choices=ConsentEndedBy.choices, blank=True)
    superseded_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes"
    )

    class Meta:
        # Telehealth consent is per booked visit: one active per visit date, so two booked visits
        # coexist. The others: one active per kind. The second constraint leaves visit_date out on
        # purpose: NULLs never collide in a unique index (PostgreSQL), so it would enforce nothing.
        constraints = [
            models.UniqueConstraint(
                fields=["person", "institution", "kind"],
                condition=models.Q(status="active") & ~models.Q(kind="telehealth"),
                name="consent_one_active_per_person_institution_kind",
            ),
            models.UniqueConstraint(
                fields=["person", "institution", "visit_date"],
                condition=models.Q(status="active", kind="telehealth"),
                name="consent_one_active_telehealth_per_visit",
            ),
        ]
        indexes = [
            models.Index(fields=["institution", "given_at"]),
            models.Index(fields=["institution", "visit_date"]),
            models.Index(fields=["person", "status"]),
        ]

    def __str__(self):
        return f"{self.kind} consent of person {self.person_id} to {self.institution_id} ({self.status})"

    def is_in_force(self, now=None) -> bool:
        from django.utils import timezone

        if self.status != ConsentStatus.ACTIVE:
            return False
        return self.available_until is None or (now or timezone.now()) < self.available_until

    @property
    def last_day(self):
        """The last Tokyo day it holds (available_until is the exclusive end); None when open-ended."""
        from .rules import last_day

        return last_day(self.available_until)

    def effective_status(self, now=None) -> str:
        if self.status == ConsentStatus.ACTIVE and not self.is_in_force(now):
            return ConsentStatus.EXPIRED
        return self.status

    @property
    def signature_bytes(self) -> bytes:
        return base64.b64decode(self.signature) if self.signature else b""


# --- telehealth-app integration ----------------------------------------------------------------
class TelehealthApp(models.Model):
    """A telehealth (オンライン診療) system that sends its patients through our consent pages.

    It authenticates with HTTP Basic (client_id, secret). The secret is shown once at
    registration; it is stored encrypted (telehealth.py, key derived from SECRET_KEY) because
    the webhook signer needs it in clear, and it is never logged.
    """

    name = models.CharField(max_length=200)
    client_id = models.CharField(max_length=64, unique=True)
    secret_encrypted = models.TextField()
    allowed_return_urls = models.JSONField(default=list)
    webhook_url = models.URLField(max_length=500, blank=True)
    institutions = models.ManyToManyField("registry.Institution", related_name="telehealth_apps")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} ({self.client_id})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ConsentSessionStatus(models.TextChoices):
    PENDING = "pending", "同意待ち"
    REGISTERED = "registered", "同意済み"
    CANCELLED = "cancelled", "取消済み"
    DECLINED = "declined", "本人が中止"  # the patient stopped (中止する) without consenting
    EXPIRED = "expired", "期限切れ"  # computed: pending past expires_at


class ConsentSession(models.Model):
    """A consent a telehealth app asked for: the patient opens /consent/s/<session_id>/."""

    session_id = models.CharField(max_length=43, unique=True)  # random, in the patient's URL
    app = models.ForeignKey(TelehealthApp, on_delete=models.PROTECT, related_name="sessions")
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, default="telehealth")
    visit_date = models.DateField()
    items = models.JSONField(default=list)
    return_url = models.URLField(max_length=1000)
    state = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=ConsentSessionStatus.choices, default=ConsentSessionStatus.PENDING
    )
    consent = models.OneToOneField(
        Consent, null=True, blank=True, on_delete=models.PROTECT, related_name="session"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"consent session {self.session_id[:8]}…"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "送信待ち"
    DELIVERED = "delivered", "送信済み"
    FAILED = "failed", "送信断念"


class WebhookDelivery(models.Model):
    """Outbox row: written in the consent's own transaction, posted after commit (webhooks.py)."""

    event_id = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey(TelehealthApp, on_delete=models.PROTECT, related_name="deliveries")
    session = models.ForeignKey(
        ConsentSession, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    event = models.CharField(max_length=40)
    body = models.TextField()  # the exact JSON bytes (UTF-8) that are signed and sent
    created_at = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event} {self.event_id} ({self.status})"


# --- the consent flow on a page --------------------------------------------------------------------
class DraftStatus(models.TextChoices):
    OPEN = "open", "入力中"
    FROZEN = "frozen", "確認済み"  # confirmed: the card step signs exactly these terms
    DONE = "done", "登録済み"  # terminal: the consent is registered
    ENDED = "ended", "終了"  # terminal: stopped, or ended when the next patient started on the device


class ConsentDraft(models.Model):
    """One run of a consent flow on one device (browser session): what the patient chose so far.

    Each step writes to it; confirming freezes it; the card step signs only a frozen draft and
    registers exactly its terms; done and ended are terminal. Starting a flow ends every earlier
    draft of the same device, so a page of the previous patient left in the history shows that
    their procedure has ended and nothing of them (consent/drafts.py).
    """

    key = models.CharField(max_length=43, unique=True)  # random, sent back by the flow's forms
    device = models.CharField(max_length=43, db_index=True)  # the browser session's device id
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT, related_name="+")
    flow = models.CharField(max_length=12)  # the URL's flow segment: home, telehealth
    kind = models.CharField(max_length=20, choices=ConsentKind.choices)
    items = models.JSONField(default=list)  # chosen beyond qualification, sorted
    limit_answered = models.BooleanField(default=False)
    visit_date = models.DateField(null=True, blank=True)
    available_until = models.DateField(null=True, blank=True)  # last day chosen (home visits)
    session = models.ForeignKey(
        ConsentSession, null=True, blank=True, on_delete=models.PROTECT, related_name="drafts"
    )
    status = models.CharField(max_length=8, choices=DraftStatus.choices, default=DraftStatus.OPEN)
    challenge = models.OneToOneField(
        CardAuthChallenge, null=True, blank=True, on_delete=models.SET_NULL, related_name="draft"
    )
    consent = models.OneToOneField(
        Consent, null=True, blank=True, on_delete=models.PROTECT, related_name="draft"
    )
    created_at = models.DateTimeField()
    frozen_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["device", "ended_at"])]

    def __str__(self):
        return f"{self.flow} draft {self.key[:8]}… ({self.status})"
