"""Staff pages for browsing the registry. Read-mostly: qualification history and medical information
come from insurers and claims (import_qualifications, seeding) and are never edited here; only the
reference rows (insurers, institutions) and a person's contact details can be corrected.

An operator's look at a person's data is a read like any other: it is written to the access log in
the transaction that reads it and shown to that person on the portal (basis "operator"; the
logging is audit.admin.OperatorReadLogMixin, shared with the consent and access-log admins).
- Detail pages of anything that belongs to a person log one event naming the person and the items
  the page shows; saving a person's contact details logs the change (field names, no values).
- Changelists: the person and qualification lists are how operators find someone, so they keep
  names and log one event per person on the page. The lists of medical records and certificates
  show only ids, dates and institutions (no drug, procedure, checkup item, cost, disease or income
  class, no name) and filter or search on nothing medical: browsing them across many persons tells
  nothing medical, and the content is one logged click away. Logging every person of such a page
  would flood each patient's history with rows nobody meant to read about them.
"""

from django.contrib import admin

from homeconsent.audit.admin import OperatorReadLogMixin, ReadOnlyMixin, operator_actor, shown_as
from homeconsent.audit.models import Action, ActorType, Basis, Outcome
from homeconsent.audit.services import record_access

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
    PublicExpenseCertificate,
    Qualification,
    SpecificDiseaseCertificate,
    TreatmentRecord,
)
from .validation import normalize_card_key


class NoDeleteMixin:
    def has_delete_permission(self, request, obj=None):
        return False  # rows are referenced by history (PROTECT) and by the access log


class LargeTableAdmin(admin.ModelAdmin):
    show_full_result_count = False  # no COUNT(*) over millions of rows per page
    list_per_page = 50


class CardKeySearchMixin:
    """記号・番号 are stored in one spelling (normalize_card_key): a search typed with full-width
    digits also finds them. The term as typed is searched too (names are not normalised)."""

    def get_search_results(self, request, queryset, search_term):
        results, distinct = super().get_search_results(request, queryset, search_term)
        normalized = normalize_card_key(search_term)
        if normalized and normalized != search_term.strip():
            more, more_distinct = super().get_search_results(request, queryset, normalized)
            results, distinct = results | more, distinct or more_distinct
        return results, distinct


class PersonDataAdmin(OperatorReadLogMixin, LargeTableAdmin):
    """A model whose rows belong to one person: detail pages are logged reads (module docstring)."""

    @admin.display(description="本人ID", ordering="person_id")
    def person_ref(self, obj):
        return self.person_id_of(obj)


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


class QualificationInline(ReadOnlyMixin, admin.TabularInline):
    model = Qualification
    insurer_shown = shown_as("insurer", "保険者")
    fields = (
        "insurer_shown",
        "symbol",
        "number",
        "branch",
        "personal_family",
        "contribution_ratio",
        "acquired_on",
        "lost_on",
        "reason_of_loss",
    )
    readonly_fields = fields
    ordering = ("acquired_on",)
    extra = 0
    show_change_link = True


class CardCertificateInline(ReadOnlyMixin, admin.TabularInline):
    model = CardCertificate
    status_shown = shown_as("status", "状態")
    not_after_shown = shown_as("not_after", "有効期限")
    fields = ("issuer", "serial", "status_shown", "registered_for_insurance_use", "not_after_shown")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Person)
class PersonAdmin(NoDeleteMixin, CardKeySearchMixin, PersonDataAdmin):
    list_display = ("id", "name", "name_kana", "sex", "birth_date", "postal_code")
    search_fields = (
        "name",
        "name_kana",
        "=qualifications__insurer__number",
        "=qualifications__symbol",
        "=qualifications__number",
    )
    list_filter = ("sex",)
    readonly_fields = ("created_at",)
    inlines = [QualificationInline, CardCertificateInline]
    access_items = ("person",)
    log_changelist = True

    def person_id_of(self, obj):
        return obj.pk

    def items_shown(self, obj):
        return ["person", "qualification", "card_registration"]  # the inlines show both

    def has_add_permission(self, request):
        return False  # persons arrive with their qualification (import)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Inside changeform_view's transaction: the change and its log entry commit together.
        record_access(
            actor_type=ActorType.OPERATOR,
            actor_id=operator_actor(request),
            person=obj,
            items=["person"],
            basis=Basis.OPERATOR,
            outcome=Outcome.OK,
            detail={"action": Action.ADMIN_CHANGE, "model": "person", "changed": sorted(form.changed_data)},
        )


@admin.register(Insurer)
class InsurerAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ("number", "name", "kind", "prefecture")
    search_fields = ("number", "name")
    list_filter = ("kind", "prefecture")
    ordering = ("number",)


@admin.register(Institution)
class InstitutionAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "facility_type",
        "prefecture",
        "municipality",
        "qualification_only",
        "hospital",
    )
    search_fields = ("code", "name", "municipality")
    list_filter = ("facility_type", "prefecture", "qualification_only", "hospital")
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
class QualificationAdmin(ReadOnlyMixin, CardKeySearchMixin, PersonDataAdmin):
    person_shown = shown_as("person", "本人", "person_id")
    insurer_shown = shown_as("insurer", "保険者", "insurer__number")
    list_display = (
        "person_shown",
        "insurer_shown",
        "symbol",
        "number",
        "branch",
        "personal_family",
        "contribution_ratio",
        "card_classification",
        "acquired_on",
        "lost_on",
        "reason_of_loss",
    )
    search_fields = ("=insurer__number", "=symbol", "=number", "person__name", "person__name_kana")
    list_filter = (
        OpenFilter,
        "insurer__kind",
        "contribution_ratio",
        "personal_family",
        "card_classification",
        "reason_of_loss",
        "preschool",
    )
    raw_id_fields = ("person", "insurer")
    list_select_related = ("person", "insurer")
    inlines = [ElderlyInline, LimitInline, SpecificDiseaseInline]
    access_items = ("qualification",)
    log_changelist = True

    def items_shown(self, obj):
        # The inlines show the certificates; 限度額 is an item of its own for the patient.
        return ["qualification"] + (["limit_certificate"] if obj.limit_certificates.exists() else [])


# The lists below show ids, dates and institutions only, and search by exact person id
# (module docstring); a row's content is on its logged detail page.


class CertificateAdmin(ReadOnlyMixin, PersonDataAdmin):
    raw_id_fields = ("qualification",)
    list_select_related = ("qualification__insurer",)
    list_display = ("id", "person_ref", "insurer_number", "valid_from", "valid_until")
    search_fields = ("=qualification__person__id",)
    access_items = ("qualification",)

    def person_id_of(self, obj):
        return obj.qualification.person_id

    @admin.display(description="保険者番号")
    def insurer_number(self, obj):
        return obj.qualification.insurer.number


@admin.register(ElderlyCertificate)
class ElderlyCertificateAdmin(CertificateAdmin):
    pass


@admin.register(LimitCertificate)
class LimitCertificateAdmin(CertificateAdmin):
    access_items = ("limit_certificate",)


@admin.register(SpecificDiseaseCertificate)
class SpecificDiseaseCertificateAdmin(CertificateAdmin):
    pass


@admin.register(CardCertificate)
class CardCertificateAdmin(ReadOnlyMixin, PersonDataAdmin):
    status_shown = shown_as("status", "状態")
    not_after_shown = shown_as("not_after", "有効期限")
    list_display = (
        "id",
        "person_ref",
        "issuer",
        "serial",
        "status_shown",
        "registered_for_insurance_use",
        "not_after_shown",
    )
    search_fields = ("=serial", "=fingerprint_sha256", "=person__id")
    list_filter = ("status", "registered_for_insurance_use")
    raw_id_fields = ("person", "renewed_from")
    exclude = ("certificate_der",)
    access_items = ("card_registration",)


class PersonRecordAdmin(ReadOnlyMixin, PersonDataAdmin):
    raw_id_fields = ("person",)
    search_fields = ("=person__id",)


@admin.register(MedicationRecord)
class MedicationRecordAdmin(PersonRecordAdmin):
    list_display = ("id", "person_ref", "dispensed_on", "dispensing_institution_name")
    list_filter = ("source",)
    raw_id_fields = ("person", "dispensing_institution", "prescribing_institution")
    access_items = ("medication",)


@admin.register(TreatmentRecord)
class TreatmentRecordAdmin(PersonRecordAdmin):
    list_display = ("id", "person_ref", "treated_on", "institution_name")
    raw_id_fields = ("person", "institution")
    access_items = ("treatment",)


@admin.register(CheckupResult)
class CheckupResultAdmin(PersonRecordAdmin):
    list_display = ("id", "person_ref", "checked_on", "institution_name")
    access_items = ("checkup",)


@admin.register(ExpenseNotice)
class ExpenseNoticeAdmin(PersonRecordAdmin):
    list_display = ("id", "person_ref", "month", "institution_name")
    raw_id_fields = ("person", "institution")
    access_items = ("expense_notice",)


@admin.register(PublicExpenseCertificate)
class PublicExpenseCertificateAdmin(PersonRecordAdmin):
    list_display = ("id", "person_ref", "programme", "payer_number", "valid_from", "valid_until")
    list_filter = ("programme",)
    access_items = ("qualification",)
