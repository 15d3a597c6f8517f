"""Staff pages for browsing the registry. Read-mostly: qualification history and medical information
come from insurers and claims (import_qualifications, seeding) and are never edited here; only the
reference rows (insurers, institutions) and a person's contact details can be corrected."""

from django.contrib import admin

from .models import (
    CardCertificate,
    CheckupResult,
    ElderlyCertificate,
    ExpenseNotice,
    Institution,
    Insurer,
    LimitCertificate,
    MedicationRecord,
    Person,
    Qualification,
    SpecificDiseaseCertificate,
    TreatmentRecord,
)
from .reference_data import CHECKUP_ITEMS


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoDeleteMixin:
    def has_delete_permission(self, request, obj=None):
        return False  # rows are referenced by history (PROTECT) and by the access log


class LargeTableAdmin(admin.ModelAdmin):
    show_full_result_count = False  # no COUNT(*) over millions of rows per page
    list_per_page = 50


class OpenFilter(admin.SimpleListFilter):
    title = "資格の状態"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "有効（喪失なし）"), ("closed", "喪失・変更済み"))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(lost_on__isnull=True)
        if self.value() == "closed":
            return queryset.filter(lost_on__isnull=False)
        return queryset


class CheckupItemFilter(admin.SimpleListFilter):
    """Items from the master, not SELECT DISTINCT over millions of result rows."""

    title = "項目"
    parameter_name = "item"

    def lookups(self, request, model_admin):
        return [(item.code, item.name) for item in CHECKUP_ITEMS]

    def queryset(self, request, queryset):
        return queryset.filter(item_code=self.value()) if self.value() else queryset


class QualificationInline(ReadOnlyMixin, admin.TabularInline):
    model = Qualification
    fields = ("insurer", "symbol", "number", "branch", "personal_family", "contribution_ratio", "acquired_on",
              "lost_on", "reason_of_loss")
    readonly_fields = fields
    ordering = ("acquired_on",)
    extra = 0
    show_change_link = True


class CardCertificateInline(ReadOnlyMixin, admin.TabularInline):
    model = CardCertificate
    fields = ("issuer", "serial", "status", "registered_for_insurance_use", "not_after")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Person)
class PersonAdmin(NoDeleteMixin, LargeTableAdmin):
    list_display = ("id", "name", "name_kana", "sex", "birth_date", "postal_code")
    search_fields = ("name", "name_kana", "=qualifications__insurer__number", "=qualifications__symbol",
                     "=qualifications__number")
    list_filter = ("sex",)
    readonly_fields = ("created_at",)
    inlines = [QualificationInline, CardCertificateInline]

    def has_add_permission(self, request):
        return False  # persons arrive with their qualification (import)


@admin.register(Insurer)
class InsurerAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ("number", "name", "kind", "prefecture")
    search_fields = ("number", "name")
    list_filter = ("kind", "prefecture")
    ordering = ("number",)


@admin.register(Institution)
class InstitutionAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ("code", "name", "facility_type", "prefecture", "municipality", "qualification_only")
    search_fields = ("code", "name", "municipality")
    list_filter = ("facility_type", "prefecture", "qualification_only")
    readonly_fields = ("facility_type", "prefecture")  # derived from the code on save
    ordering = ("code",)


class CertificateInlineBase(ReadOnlyMixin, admin.TabularInline):
    extra = 0


class ElderlyInline(CertificateInlineBase):
    model = ElderlyCertificate
    readonly_fields = ("issued_on", "valid_from", "valid_until", "contribution_ratio")


class LimitInline(CertificateInlineBase):
    model = LimitCertificate
    readonly_fields = ("classification", "valid_from", "valid_until")


class SpecificDiseaseInline(CertificateInlineBase):
    model = SpecificDiseaseCertificate
    readonly_fields = ("disease_category", "valid_from", "valid_until", "self_pay_limit")


@admin.register(Qualification)
class QualificationAdmin(ReadOnlyMixin, LargeTableAdmin):
    list_display = ("person", "insurer", "symbol", "number", "branch", "personal_family", "contribution_ratio",
                    "card_classification", "acquired_on", "lost_on", "reason_of_loss")
    search_fields = ("=insurer__number", "=symbol", "=number", "person__name", "person__name_kana")
    list_filter = (OpenFilter, "insurer__kind", "contribution_ratio", "personal_family", "card_classification",
                   "reason_of_loss", "preschool")
    raw_id_fields = ("person", "insurer")
    list_select_related = ("person", "insurer")
    inlines = [ElderlyInline, LimitInline, SpecificDiseaseInline]


class CertificateAdmin(ReadOnlyMixin, LargeTableAdmin):
    raw_id_fields = ("qualification",)
    list_select_related = ("qualification__person", "qualification__insurer")
    search_fields = ("=qualification__insurer__number", "=qualification__symbol", "=qualification__number",
                     "qualification__person__name", "qualification__person__name_kana")

    @admin.display(description="氏名")
    def person(self, obj):
        return obj.qualification.person.name

    @admin.display(description="保険者番号")
    def insurer_number(self, obj):
        return obj.qualification.insurer.number


@admin.register(ElderlyCertificate)
class ElderlyCertificateAdmin(CertificateAdmin):
    list_display = ("person", "insurer_number", "contribution_ratio", "valid_from", "valid_until")
    list_filter = ("contribution_ratio",)


@admin.register(LimitCertificate)
class LimitCertificateAdmin(CertificateAdmin):
    list_display = ("person", "insurer_number", "classification", "valid_from", "valid_until")
    list_filter = ("classification",)


@admin.register(SpecificDiseaseCertificate)
class SpecificDiseaseCertificateAdmin(CertificateAdmin):
    list_display = ("person", "insurer_number", "disease_category", "valid_from", "valid_until", "self_pay_limit")
    list_filter = ("disease_category",)


@admin.register(CardCertificate)
class CardCertificateAdmin(ReadOnlyMixin, LargeTableAdmin):
    list_display = ("person", "issuer", "serial", "status", "registered_for_insurance_use", "not_after")
    search_fields = ("=serial", "=fingerprint_sha256", "issuer", "person__name", "person__name_kana")
    list_filter = ("status", "registered_for_insurance_use")
    raw_id_fields = ("person", "renewed_from")
    list_select_related = ("person",)
    exclude = ("certificate_der",)


class PersonRecordAdmin(ReadOnlyMixin, LargeTableAdmin):
    raw_id_fields = ("person",)
    list_select_related = ("person",)
    person_search = ("person__name", "person__name_kana", "=person__qualifications__number")


@admin.register(MedicationRecord)
class MedicationRecordAdmin(PersonRecordAdmin):
    list_display = ("person", "dispensed_on", "source", "drug_name", "drug_code", "yj_code", "quantity", "unit",
                    "days", "dispensing_institution_name")
    search_fields = PersonRecordAdmin.person_search + ("drug_name", "=drug_code", "=yj_code", "ingredient_name")
    list_filter = ("source", "in_hospital")
    raw_id_fields = ("person", "dispensing_institution", "prescribing_institution")


@admin.register(TreatmentRecord)
class TreatmentRecordAdmin(PersonRecordAdmin):
    list_display = ("person", "treated_on", "procedure_code", "procedure_name", "times", "institution_name")
    search_fields = PersonRecordAdmin.person_search + ("=procedure_code", "procedure_name", "institution_name")
    list_filter = ("inpatient",)
    raw_id_fields = ("person", "institution")


@admin.register(CheckupResult)
class CheckupResultAdmin(PersonRecordAdmin):
    list_display = ("person", "checked_on", "item_code", "item_name", "value", "unit")
    search_fields = PersonRecordAdmin.person_search + ("=item_code", "item_name")
    list_filter = (CheckupItemFilter,)


@admin.register(ExpenseNotice)
class ExpenseNoticeAdmin(PersonRecordAdmin):
    list_display = ("person", "month", "institution_name", "care_kind", "days", "total_cost", "patient_paid")
    search_fields = PersonRecordAdmin.person_search + ("institution_name",)
    list_filter = ("care_kind",)
    raw_id_fields = ("person", "institution")
