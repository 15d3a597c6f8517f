"""The qualification registry (資格情報) and the medical information held for each person.

Field meanings follow the national interface (reference/domain.md). 記号, 番号 and 枝番 are strings:
they may hold kana, kanji or full-width digits and leading zeros matter.
"""

from django.db import models

from .codes import (
    FACILITY_TYPES,
    PUBLIC_EXPENSE_PROGRAMMES,
    validate_branch,
    validate_institution_code,
    validate_institution_codes,
    validate_insurer_number,
    validate_municipality_code,
    validate_payer_number,
    validate_recipient_number,
)


class Sex(models.TextChoices):
    MALE = "1", "男"
    FEMALE = "2", "女"


class InsurerKind(models.TextChoices):
    KYOKAI = "kyokai", "協会けんぽ"
    KUMIAI = "kumiai", "健康保険組合"
    KYOSAI = "kyosai", "共済組合"
    KOKUHO = "kokuho", "国民健康保険"
    KOKUHO_KUMIAI = "kokuho_kumiai", "国民健康保険組合"
    KOUKI = "kouki", "後期高齢者医療"
    SENIN = "senin", "船員保険"


class PersonalFamily(models.TextChoices):
    INSURED = "1", "本人"
    FAMILY = "2", "家族"


class ContributionRatio(models.TextChoices):
    ONE = "010", "1割"
    TWO = "020", "2割"
    THREE = "030", "3割"


class ReasonOfLoss(models.TextChoices):
    DEATH = "01", "死亡"
    PUBLIC_ASSISTANCE = "02", "生活保護"
    OTHER_INSURANCE = "03", "他保険取得"
    OTHER = "99", "その他"


class CardClassification(models.TextChoices):
    GENERAL = "01", "被保険者証（一般）"
    ELDERLY_70 = "02", "被保険者証（高齢受給者）"
    KOUKI = "03", "後期高齢者被保険者証"
    SHORT_TERM = "04", "短期被保険者証"
    QUALIFICATION_CERT = "05", "資格確認書"


class FacilityType(models.TextChoices):
    MEDICAL = "1", FACILITY_TYPES["1"]
    DENTAL = "3", FACILITY_TYPES["3"]
    PHARMACY = "4", FACILITY_TYPES["4"]
    HOME_NURSING = "6", FACILITY_TYPES["6"]


class Person(models.Model):
    name = models.CharField("氏名", max_length=100)
    name_kana = models.CharField("氏名カナ", max_length=200)
    sex = models.CharField("性別", max_length=1, choices=Sex.choices)
    birth_date = models.DateField("生年月日", db_index=True)
    address = models.CharField("住所", max_length=200, blank=True)
    postal_code = models.CharField("郵便番号", max_length=7, blank=True)
    # 全国地方公共団体コード of the address: what a disaster scope lists (special_access).
    address_municipality_code = models.CharField(
        "住所の市区町村コード",
        max_length=6,
        blank=True,
        db_index=True,
        validators=[validate_municipality_code],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "person"
        indexes = [models.Index(fields=["name_kana", "birth_date"])]

    def __str__(self):
        return f"{self.name} ({self.birth_date:%Y-%m-%d})"


class Insurer(models.Model):
    number = models.CharField("保険者番号", max_length=8, unique=True, validators=[validate_insurer_number])
    name = models.CharField("保険者名", max_length=100)
    kind = models.CharField("種別", max_length=20, choices=InsurerKind.choices)
    prefecture = models.CharField("都道府県番号", max_length=2)

    def __str__(self):
        return f"{self.number} {self.name}"


class Qualification(models.Model):
    """One period of insurance: a row of the qualification history (資格履歴). Never overwritten."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="qualifications")
    insurer = models.ForeignKey(Insurer, on_delete=models.PROTECT, related_name="qualifications")
    symbol = models.CharField("記号", max_length=38, blank=True)
    number = models.CharField("番号", max_length=38)
    branch = models.CharField("枝番", max_length=2, validators=[validate_branch])
    personal_family = models.CharField("本人・家族", max_length=1, choices=PersonalFamily.choices)
    insured_name = models.CharField("被保険者氏名", max_length=100, blank=True)
    card_classification = models.CharField(
        "被保険者証区分", max_length=2, choices=CardClassification.choices, default=CardClassification.GENERAL
    )
    acquired_on = models.DateField("資格取得年月日")
    lost_on = models.DateField("資格喪失年月日", null=True, blank=True)
    reason_of_loss = models.CharField("喪失事由", max_length=2, choices=ReasonOfLoss.choices, blank=True)
    contribution_ratio = models.CharField("一部負担金割合", max_length=3, choices=ContributionRatio.choices)
    preschool = models.BooleanField("未就学区分", default=False)
    card_valid_from = models.DateField("証有効開始年月日", null=True, blank=True)
    card_expires_on = models.DateField("証有効期限", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["insurer", "symbol", "number", "branch"], name="qualification_search_keys"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lost_on__isnull=True) | models.Q(lost_on__gte=models.F("acquired_on")),
                name="qualification_lost_after_acquired",
            ),
        ]

    def __str__(self):
        return f"{self.insurer.number} {self.symbol}・{self.number}（{self.branch}）"

    def is_valid_on(self, day) -> bool:
        return self.acquired_on <= day and (self.lost_on is None or day < self.lost_on)


class ElderlyCertificate(models.Model):
    """高齢受給者証 (ages 70 to 74)."""

    qualification = models.ForeignKey(
        Qualification, on_delete=models.PROTECT, related_name="elderly_certificates"
    )
    issued_on = models.DateField("交付年月日")
    valid_from = models.DateField("有効開始年月日")
    valid_until = models.DateField("有効終了年月日")
    contribution_ratio = models.CharField("一部負担金割合", max_length=3, choices=ContributionRatio.choices)


class LimitClassification(models.TextChoices):
    A01 = "A01", "ア"
    A02 = "A02", "イ"
    A03 = "A03", "ウ"
    A04 = "A04", "エ"
    A05 = "A05", "オ"
    A06 = "A06", "オ（境）"
    B01 = "B01", "現役並みⅢ"
    B02 = "B02", "現役並みⅡ"
    B03 = "B03", "現役並みⅠ"
    B04 = "B04", "一般Ⅱ"
    B05 = "B05", "一般Ⅰ"
    B06 = "B06", "低所得Ⅱ"
    B07 = "B07", "低所得Ⅰ"
    B08 = "B08", "低所得Ⅰ（老福）"
    B09 = "B09", "低所得Ⅰ（境）"
    B10 = "B10", "低所得Ⅱ（境）"


class LimitCertificate(models.Model):
    """限度額適用認定証: returned only with the patient's consent."""

    qualification = models.ForeignKey(
        Qualification, on_delete=models.PROTECT, related_name="limit_certificates"
    )
    classification = models.CharField("適用区分", max_length=3, choices=LimitClassification.choices)
    valid_from = models.DateField("有効開始年月日")
    valid_until = models.DateField("有効終了年月日")


class SpecificDiseaseCategory(models.TextChoices):
    HEMOPHILIA = "01", "血友病"
    DIALYSIS = "02", "人工腎臓を実施している慢性腎不全"
    HIV = "03", "抗ウイルス剤を投与している後天性免疫不全症候群"


class SpecificDiseaseCertificate(models.Model):
    """特定疾病療養受療証."""

    qualification = models.ForeignKey(
        Qualification, on_delete=models.PROTECT, related_name="specific_disease_certificates"
    )
    disease_category = models.CharField("認定疾病区分", max_length=2, choices=SpecificDiseaseCategory.choices)
    valid_from = models.DateField("有効開始年月日")
    valid_until = models.DateField("有効終了年月日", null=True, blank=True)
    self_pay_limit = models.PositiveIntegerField("自己負担限度額（円）", default=10000)


PublicExpenseProgramme = models.TextChoices(
    "PublicExpenseProgramme", [(code, (code, label)) for code, label in PUBLIC_EXPENSE_PROGRAMMES.items()]
)


class PublicExpenseCertificate(models.Model):
    """公費負担医療の受給者証: held by the person (not by an insurance period); several at once."""

    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="public_expense_certificates",
        db_index=False,  # the (person, …) index below serves lookups by person
    )
    programme = models.CharField("法別番号", max_length=2, choices=PublicExpenseProgramme.choices)
    payer_number = models.CharField("公費負担者番号", max_length=8, validators=[validate_payer_number])
    # Empty where the programme issues none (医療扶助 in many municipalities).
    recipient_number = models.CharField(
        "受給者番号", max_length=7, blank=True, validators=[validate_recipient_number]
    )
    valid_from = models.DateField("有効開始年月日")
    valid_until = models.DateField("有効終了年月日", null=True, blank=True)
    monthly_self_pay_limit = models.PositiveIntegerField("自己負担上限月額（円）", null=True, blank=True)
    # 医療機関等コード of the designated institutions (指定医療機関), space separated; empty: any.
    designated_institutions = models.CharField(
        "指定医療機関", max_length=1100, blank=True, validators=[validate_institution_codes]
    )

    class Meta:
        indexes = [models.Index(fields=["person", "valid_from"])]

    def __str__(self):
        return f"{self.payer_number} {self.recipient_number}"


class Institution(models.Model):
    code = models.CharField(
        "医療機関等コード", max_length=10, unique=True, validators=[validate_institution_code]
    )
    name = models.CharField("名称", max_length=200)
    facility_type = models.CharField("点数表", max_length=1, choices=FacilityType.choices)
    prefecture = models.CharField("都道府県番号", max_length=2)
    municipality = models.CharField("市区町村", max_length=100, blank=True)
    qualification_only = models.BooleanField("資格確認限定型", default=False)
    # 病院 (20 beds or more) as opposed to 診療所: emergency viewing is for hospitals only.
    hospital = models.BooleanField("病院", default=False)

    def __str__(self):
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        # Prefecture and facility type are parts of the code; keep them derived, never typed twice.
        self.prefecture = self.code[:2]
        self.facility_type = self.code[2]
        super().save(*args, **kwargs)


class CardCertificateStatus(models.TextChoices):
    ACTIVE = "active", "有効"
    REVOKED = "revoked", "失効"
    SUPERSEDED = "superseded", "更新済み"


class CardCertificate(models.Model):
    """A card's user-authentication certificate linked to a person (健康保険証利用登録).

    The person is identified by issuer and serial of this certificate, never by the My Number.
    A renewed certificate points at the one it replaced and keeps the registration.
    """

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="card_certificates")
    issuer = models.CharField("発行者", max_length=300)
    serial = models.CharField("シリアル番号（16進）", max_length=64)
    fingerprint_sha256 = models.CharField(max_length=64, unique=True)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=CardCertificateStatus.choices, default=CardCertificateStatus.ACTIVE
    )
    registered_for_insurance_use = models.BooleanField("健康保険証利用登録", default=False)
    registered_at = models.DateTimeField(null=True, blank=True)
    renewed_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="renewed_by"
    )
    certificate_der = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "serial"], name="card_certificate_issuer_serial")
        ]

    def __str__(self):
        return f"{self.issuer} #{self.serial}"


class MedicationSource(models.TextChoices):
    CLAIMS = "claims", "レセプト"
    E_PRESCRIPTION = "e_prescription", "電子処方箋"
    DISPENSING = "dispensing", "調剤結果"


class MedicationRecord(models.Model):
    """薬剤情報: one dispensed drug."""

    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="medications",
        db_index=False,  # the (person, …) index below serves lookups by person
    )
    source = models.CharField("情報源", max_length=16, choices=MedicationSource.choices)
    dispensed_on = models.DateField("調剤年月日")
    prescribed_on = models.DateField("処方年月日", null=True, blank=True)
    dispensing_institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dispensing_institution_name = models.CharField("調剤医療機関等名", max_length=200, blank=True)
    prescribing_institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    prescribing_institution_name = models.CharField("処方医療機関名", max_length=200, blank=True)
    in_hospital = models.BooleanField("院内処方", default=False)
    drug_code = models.CharField("医薬品コード（レセ電）", max_length=9)
    yj_code = models.CharField("YJコード", max_length=12, blank=True)
    drug_name = models.CharField("医薬品名", max_length=200)
    ingredient_name = models.CharField("成分名", max_length=200, blank=True)
    quantity = models.DecimalField("用量", max_digits=10, decimal_places=3)
    unit = models.CharField("単位", max_length=20)
    usage = models.CharField("用法", max_length=200, blank=True)
    days = models.PositiveIntegerField("調剤数量（日数・回数）", default=1)
    special_instructions = models.CharField("特別指示", max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["person", "dispensed_on"])]


class TreatmentRecord(models.Model):
    """診療情報: a visit's procedure (診療行為), no diagnoses."""

    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="treatments",
        db_index=False,  # the (person, …) index below serves lookups by person
    )
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    institution_name = models.CharField("医療機関名", max_length=200, blank=True)
    treated_on = models.DateField("診療年月日")
    inpatient = models.BooleanField("入院", default=False)
    procedure_code = models.CharField("診療行為コード", max_length=9)
    procedure_name = models.CharField("診療行為名", max_length=200)
    times = models.PositiveIntegerField("回数", default=1)

    class Meta:
        indexes = [models.Index(fields=["person", "treated_on"])]


class CheckupResult(models.Model):
    """特定健診等情報: one item of one checkup."""

    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="checkups",
        db_index=False,  # the (person, …) index below serves lookups by person
    )
    checked_on = models.DateField("実施年月日")
    institution_name = models.CharField("実施機関", max_length=200, blank=True)
    item_code = models.CharField("項目コード", max_length=17)
    item_name = models.CharField("項目名", max_length=100)
    value = models.CharField("結果値", max_length=50)
    unit = models.CharField("単位", max_length=20, blank=True)

    class Meta:
        indexes = [models.Index(fields=["person", "checked_on"])]


class ExpenseNotice(models.Model):
    """医療費通知情報: one month at one institution."""

    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="expense_notices",
        db_index=False,  # the (person, …) index below serves lookups by person
    )
    month = models.DateField("診療年月")  # first day of the month
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    institution_name = models.CharField("医療機関等名", max_length=200)
    care_kind = models.CharField("区分", max_length=20)  # 医科入院, 医科入院外, 歯科, 調剤, 訪問看護
    days = models.PositiveIntegerField("日数", default=1)
    total_cost = models.PositiveIntegerField("医療費の総額（円）")
    patient_paid = models.PositiveIntegerField("窓口負担相当額（円）")

    class Meta:
        indexes = [models.Index(fields=["person", "month"])]
