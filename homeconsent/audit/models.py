"""The access log: append-only, hash-chained events, and signed checkpoints of the chain heads.

The log runs as settings.AUDIT_CHAINS independent chains (chosen by person), each linear: row n of a
chain stores the hash of row n-1 and the SHA-256 of its own canonical content (see canonical.py).
Rows are only ever added through services.record_access; the model and queryset refuse every
change or deletion, and on PostgreSQL a trigger refuses them in the database too.
"""

from django.db import models

from homeconsent.errors import ErrorCode

APPEND_ONLY = ErrorCode(
    "audit_append_only",
    "アクセス記録は追記のみです。記録の変更や削除はできません。",
    "The access log is append-only: its records cannot be changed or deleted.",
)


class ActorType(models.TextChoices):
    OPERATOR = "operator", "運営者"
    INSTITUTION_CLIENT = "institution_client", "医療機関等システム"
    INSTITUTION_STAFF = "institution_staff", "医療機関等職員"
    PATIENT = "patient", "本人"
    SYSTEM = "system", "システム"


class Basis(models.TextChoices):
    CONSENT = "consent", "同意"
    REQUERY = "requery", "再照会"
    DISASTER = "disaster", "災害時特別措置"
    EMERGENCY = "emergency", "救急時医療情報閲覧"
    OPERATOR = "operator", "運営者による確認"
    SELF = "self", "本人による閲覧"
    QUALIFICATION_ONLY = "qualification_only", "資格確認のみ"
    PAPER_CERTIFICATE = "paper_certificate", "資格確認書"


class Action(models.TextChoices):
    """What an access-log row records when it is more than a plain read (stored in detail["action"]).
    Every service names its step with one of these; the portal and the console label and filter by them."""

    # consent
    CONSENT_REGISTERED = "consent_registered", "同意登録"
    CONSENT_CANCELLED = "consent_cancelled", "同意取消"
    CONSENT_END_SET = "consent_end_set", "同意終了日の設定"
    CONSENT_SESSION_CREATED = "consent_session_created", "同意依頼"
    CONSENT_SESSION_DECLINED = "consent_session_declined", "同意依頼の辞退"
    CONSENT_ENTRY_TOKEN_ROTATED = "consent_entry_token_rotated", "入口URLの更新"
    TELEHEALTH_APP_REGISTERED = "telehealth_app_registered", "オンライン診療アプリ登録"
    TELEHEALTH_APP_REVOKED = "telehealth_app_revoked", "オンライン診療アプリ失効"
    TELEHEALTH_APP_SECRET_ROTATED = "telehealth_app_secret_rotated", "オンライン診療アプリの秘密鍵再発行"
    # card and registry
    REGISTER_FOR_INSURANCE_USE = "register_for_insurance_use", "保険証利用登録"
    CARD_CERTIFICATE_REGISTERED = "card_certificate_registered", "証明書登録"
    CARD_CERTIFICATE_REVOKED = "card_certificate_revoked", "証明書失効"
    CHECK_ELIGIBILITY = "check_eligibility", "資格確認（運営者）"
    PAPER_CERTIFICATE_CHECK = "paper_certificate_check", "資格確認書による資格確認"
    # the phone route: an authentication app's subject linked to a person (homeconsent.authapp)
    APP_LINK_CREATED = "app_link_created", "認証アプリとの連携"
    APP_LINK_REMOVED = "app_link_removed", "認証アプリとの連携の解除"
    IMPORT_QUALIFICATIONS = "import_qualifications", "資格情報の取込"
    IMPORT_CORRECTION = "import_correction", "保険者による訂正"
    IMPORT_PUBLIC_EXPENSE = "import_public_expense", "公費受給者証情報の取込"
    # operator admin
    ADMIN_VIEW = "admin_view", "運営者による閲覧"
    ADMIN_LIST = "admin_list", "運営者による一覧表示"
    ADMIN_CHANGE = "admin_change", "運営者による訂正"
    ADMIN_SIGNIN = "admin_signin", "運営者のサインイン"
    ADMIN_SIGNIN_FAILED = "admin_signin_failed", "運営者のサインイン失敗"
    ADMIN_ACCOUNT_LOCKED = "admin_account_locked", "運営者アカウントのロック"
    ADMIN_SIGNIN_WHILE_LOCKED = "admin_signin_while_locked", "ロック中のサインイン"
    ADMIN_SIGNIN_RATE_LIMITED = "admin_signin_rate_limited", "サインインの回数制限"
    # institutions: API clients and console staff
    API_CLIENT_REGISTERED = "api_client_registered", "APIクライアント登録"
    API_CLIENT_REVOKED = "api_client_revoked", "APIクライアント失効"
    CONSOLE_STAFF_CREATED = "console_staff_created", "職員アカウント作成"
    CONSOLE_ENROLMENT_LINK_ISSUED = "console_enrolment_link_issued", "登録用リンク発行"
    CONSOLE_TOTP_ENROLLED = "console_totp_enrolled", "確認コード登録"
    # emergency viewing and disaster mode (special_access): rows under Basis.EMERGENCY / Basis.DISASTER
    EMERGENCY_PERMISSION_GRANTED = "emergency_permission_granted", "救急時閲覧権限の付与"
    EMERGENCY_PERMISSION_REVOKED = "emergency_permission_revoked", "救急時閲覧権限の取消し"
    EMERGENCY_SEARCH = "emergency_search", "救急時の患者検索"
    EMERGENCY_VIEW = "emergency_view", "救急時の閲覧"
    DISASTER_SCOPE_OPENED = "disaster_scope_opened", "災害時モードの開始"
    DISASTER_SCOPE_CLOSED = "disaster_scope_closed", "災害時モードの終了"
    DISASTER_SEARCH = "disaster_search", "災害時の患者検索"
    DISASTER_VIEW = "disaster_view", "災害時の閲覧"
    NOTICES_ACKNOWLEDGED = "notices_acknowledged", "お知らせの確認"


class Outcome(models.TextChoices):
    OK = "ok", "提供"
    REFUSED = "refused", "拒否"
    NOT_FOUND = "not_found", "該当なし"


class AppendOnlyQuerySet(models.QuerySet):
    """Reads only: every bulk write path raises."""

    def _refuse(self, *args, **kwargs):
        raise APPEND_ONLY()

    update = delete = bulk_update = bulk_create = _raw_delete = _refuse


class ChainHead(models.Model):
    """The last row of one chain. Its row lock (SELECT ... FOR UPDATE) orders the appends to that
    chain; on SQLite the IMMEDIATE write transaction does the same. Derived state: verification
    checks it against the chain itself."""

    chain = models.PositiveIntegerField(primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default="")

    class Meta:
        verbose_name = "access-log chain head"

    def __str__(self):
        return f"chain {self.chain} @ {self.seq}"


class AccessEvent(models.Model):
    chain = models.PositiveIntegerField(editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    occurred_at = models.DateTimeField("日時", editable=False)
    actor_type = models.CharField("アクセスした者の種別", max_length=32, choices=ActorType.choices)
    actor_id = models.CharField("アクセスした者", max_length=150)
    institution_code = models.CharField("医療機関等コード", max_length=10, blank=True)
    # PROTECT: a person with logged accesses cannot be deleted out from under the log.
    person = models.ForeignKey(
        "registry.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="access_events",
        db_index=False,  # the (person, occurred_at) index serves lookups by person
    )
    items = models.JSONField("情報の種類", default=list)
    basis = models.CharField("根拠", max_length=32, choices=Basis.choices)
    outcome = models.CharField("結果", max_length=16, choices=Outcome.choices, default=Outcome.OK)
    # Plain value, not a foreign key: the log outlives and does not depend on the consent tables.
    consent_id = models.CharField("同意ID", max_length=64, null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = "access event"
        # Django's internal paths (and any code) reach rows through the base manager: it must refuse too.
        base_manager_name = "objects"
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq_unique")]
        indexes = [
            models.Index(fields=["person", "occurred_at"], name="audit_event_person_time"),
            models.Index(fields=["institution_code", "occurred_at"], name="audit_event_inst_time"),
        ]

    def __str__(self):
        return f"{self.chain}:{self.seq} {self.actor_type} {self.basis} {self.outcome}"

    def save(self, *args, **kwargs):
        # Only services.record_access may insert (it computes the chain fields); nothing may update.
        if not self._state.adding or not getattr(self, "_chained", False):
            raise APPEND_ONLY()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise APPEND_ONLY()


class SignedStatement(models.Model):
    """An Ed25519-signed statement about the log, kept as a row that is never changed or deleted."""

    created_at = models.DateTimeField(editable=False)
    payload = models.JSONField(editable=False)
    signature = models.CharField(max_length=128, editable=False)
    public_key = models.CharField(max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True
        base_manager_name = "objects"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise APPEND_ONLY()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise APPEND_ONLY()


class Checkpoint(SignedStatement):
    """Every chain head at one moment; also written out as a file."""

    class Meta(SignedStatement.Meta):
        verbose_name = "access-log checkpoint"

    def __str__(self):
        return f"checkpoint {self.pk} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class MonthSeal(SignedStatement):
    """One ended month of the log: for each chain with rows in it, the first and last sequence, the
    hash entering the month and the hash of its last row. A month is checked alone against its
    seal, and once its retention is over its rows may go: the seal still anchors the chains that
    continue after it (seals.py)."""

    month = models.DateField(unique=True, editable=False)

    class Meta(SignedStatement.Meta):
        verbose_name = "access-log month seal"

    def __str__(self):
        return f"seal of {self.month:%Y-%m}"
