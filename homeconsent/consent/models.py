"""Consent: card-auth challenges, and the consent records they prove."""

import base64
import hashlib
import json
from datetime import timezone

from django.db import models

# DER prefix of DigestInfo{ sha256, NULL } (RFC 8017 §9.2 note 1): prefix + 32-byte hash.
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
CHALLENGE_MESSAGE_VERSION = 1


class ChallengePurpose(models.TextChoices):
    CONSENT = "consent", "同意登録"
    PORTAL_LOGIN = "portal_login", "ポータルへのログイン"
    QUALIFICATION_ONLY = "qualification_only", "資格確認のみ"


class CardAuthChallenge(models.Model):
    """What a card signs to prove it is present: one use, a few minutes.

    The challenge message (message()) is the canonical encoding of the fields that a signature
    binds: compact JSON, keys sorted, ASCII only (non-ASCII as \\u escapes), UTF-8 bytes:

        {"details":{...},"expires_at":"2026-11-25T06:05:00Z","institution":"1310000017",
         "items":["medication","qualification"],"kind":"home_visit",
         "nonce":"<32 random bytes, base64url without padding>","purpose":"consent","v":1}

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

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self):
        return f"{self.purpose} challenge {self.nonce[:8]}…"

    @property
    def nonce_bytes(self) -> bytes:
        return base64.urlsafe_b64decode(self.nonce + "=")

    def message(self) -> bytes:
        fields = {
            "v": CHALLENGE_MESSAGE_VERSION,
            "nonce": self.nonce,
            "purpose": self.purpose,
            "institution": self.institution.code if self.institution_id else None,
            "items": sorted(set(self.items)),
            "kind": self.kind,
            "details": self.details,
            "expires_at": self.expires_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def digest_info(self) -> bytes:
        return SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(self.message()).digest()
