"""Read-only admin of consents, telehealth apps, their sessions and webhooks.

Every change goes through consent/services.py or consent/telehealth.py, where it is logged; the
admin only shows. An app's secret is never shown (not even encrypted).
"""

from django.contrib import admin
from django.db import models

from .models import Consent, ConsentSession, TelehealthApp, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ("id", "given_at", "institution", "person", "kind", "status", "available_until", "ended_by")
    list_filter = ("kind", "status", "ended_by")
    search_fields = ("=id", "institution__code", "=person__id")
    list_select_related = ("institution", "person")
    date_hierarchy = "given_at"
    ordering = ("-given_at", "-id")
    show_full_result_count = False


@admin.register(TelehealthApp)
class TelehealthAppAdmin(ReadOnlyAdmin):
    list_display = ("name", "client_id", "webhook_url", "created_at", "revoked_at")
    exclude = ("secret_encrypted",)
    search_fields = ("name", "client_id")


@admin.register(ConsentSession)
class ConsentSessionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "app", "institution", "visit_date", "status", "consent")
    list_filter = ("status",)
    list_select_related = ("app", "institution")
    ordering = ("-created_at",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "app", "event", "event_id", "status", "attempts", "next_attempt_at", "last_status_code")
    list_filter = ("status", "event")
    list_select_related = ("app",)
    ordering = ("-created_at",)
