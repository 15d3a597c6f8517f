"""Who may call the institutions' API: registered clients, the assertions they spent, their tokens.

State changes go through clinicapi.auth; nothing here decides anything.
"""

import base64
import json
import secrets

from django.db import models

from homeconsent.registry.models import Institution


def new_client_id() -> str:
    # 32 lower-case base32 characters (160 bits): never starts with "-", so it stays one argument on
    # every command line (a base64url id began with "-" about once in 64 and argparse took it for an option).
    return base64.b32encode(secrets.token_bytes(20)).decode().lower()


class ApiClient(models.Model):
    """An institution's system, an OAuth 2.0 client authenticating with private_key_jwt.

    Only public keys are stored (clinicapi.client_keys.public_jwk refuses private members).
    """

    client_id = models.CharField(max_length=64, unique=True, default=new_client_id, editable=False)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="api_clients")
    name = models.CharField("名称", max_length=200)
    jwks = models.JSONField("公開鍵セット（JWKS）")
    scopes = models.JSONField("許可されたスコープ", default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # So DRF's IsAuthenticated accepts a client as the caller (request.user); it is no Django user.
    is_authenticated = True

    class Meta:
        ordering = ["institution", "created_at"]

    def __str__(self):
        return f"{self.name} ({self.client_id}, {self.institution.code})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def key(self, kid: str) -> dict | None:
        for jwk in self.jwks.get("keys", []):
            if jwk.get("kid") == kid:
                return jwk
        return None


class UsedAssertion(models.Model):
    """A client assertion's jti, kept until the assertion could no longer be accepted anyway."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="used_assertions")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "jti"], name="clinicapi_assertion_once")]


class AccessToken(models.Model):
    """A bearer token, stored as its SHA-256 only: the database never holds a usable token."""

    token_hash = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="access_tokens")
    institution_code = models.CharField("医療機関等コード", max_length=10)
    scopes = models.JSONField(default=list)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class BatchInquiry(models.Model):
    """一括照会: one submitted list of search keys, processed at once, its results kept for fetching.

    Results live in BatchResultChunk rows of up to 1,000 entries, so a batch of 10,000 is eleven
    rows written in one INSERT, and a page of results reads one or two of them.
    """

    reception_number = models.CharField("受付番号", max_length=20, unique=True)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    client_id = models.CharField(max_length=64)
    submitted_at = models.DateTimeField()
    reference_date = models.DateField("照会基準日")
    entry_count = models.PositiveIntegerField()
    normal_count = models.PositiveIntegerField()
    error_count = models.PositiveIntegerField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"batch {self.reception_number} ({self.entry_count} entries)"


class JSONTextField(models.TextField):
    """A JSON value kept as its text (text on every back end): the database stores and returns it
    without parsing it, for values only ever written and read back whole. A JSONField's jsonb made
    PostgreSQL parse the batch's 11 MB of result text on every submission, for nothing."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj):
        return self.value_from_object(obj)


class BatchResultChunk(models.Model):
    batch = models.ForeignKey(BatchInquiry, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()  # entries number*size … number*size + size - 1
    entries = JSONTextField()  # the JSON array of the chunk's result entries, in index order

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "number"], name="clinicapi_batch_chunk_once")]
