"""Read-only admin of consents, telehealth apps, their sessions and webhooks.

Every change goes through consent/services.py or consent/telehealth.py, where it is logged; the
admin only shows, except that operators register telehealth apps here, renew an app's secret and
revoke an app, each through those services. A secret is shown once, on the page that follows its
registration or renewal (never cached), and never again (not even encrypted). A consent names its person
and institution: its pages, and the sessions that link to one, are logged operator reads
(audit.admin.OperatorReadLogMixin), one event per person a list shows. Webhook deliveries carry
no personal data (telehealth.webhook_data) and are not logged.
"""

import re

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.utils.translation import gettext

from homeconsent.audit.admin import OperatorReadLogMixin, ReadOnlyMixin, shown_as
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Institution

from . import telehealth
from .models import Consent, ConsentItem, ConsentSession, ConsentStatus, TelehealthApp, WebhookDelivery


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Consent)
class ConsentAdmin(OperatorReadLogMixin, ReadOnlyAdmin):
    person_shown = shown_as("person", "本人", "person_id")
    institution_shown = shown_as("institution", "医療機関等", "institution__code")
    ended_at_shown = shown_as("ended_at", "終了日時")
    ended_by_shown = shown_as("ended_by", "終了の理由")
    superseded_by_shown = shown_as("superseded_by", "更新後の同意")
    card_certificate_shown = shown_as("card_certificate", "利用者証明用電子証明書")
    challenge_shown = shown_as("challenge", "カードが署名したチャレンジ")
    signature_shown = shown_as("signature", "署名")
    list_display = (
        "id",
        "given_at",
        "institution_shown",
        "person_shown",
        "kind",
        "status_shown",
        "valid_through",
        "ended_by_shown",
    )
    fields = (
        "person_shown",
        "institution_shown",
        "kind",
        "consented_items",
        "given_at",
        "visit_date",
        "valid_through",
        "status_shown",
        "ended_at_shown",
        "ended_by_shown",
        "superseded_by_shown",
        "card_certificate_shown",
        "challenge_shown",
        "signature_shown",
    )
    readonly_fields = fields
    list_filter = ("kind", "status", "ended_by")
    search_fields = ("=id", "institution__code", "=person__id")
    list_select_related = ("institution", "person")
    date_hierarchy = "given_at"
    ordering = ("-given_at", "-id")
    show_full_result_count = False
    access_items = ("consent", "person")  # a list row: name and birth date, institution, kind
    log_changelist = True

    @admin.display(description="状態", ordering="status")
    def status_shown(self, obj):
        # As the patient and the clinic see it: an active consent past its end reads 期限切れ.
        return ConsentStatus(obj.effective_status()).label

    def items_shown(self, obj):
        return ["consent", "person", "card_certificate"]  # the detail also shows the card that signed

    @admin.display(description="有効期限", ordering="available_until")
    def valid_through(self, obj):
        # available_until is the exclusive end: show the last day it holds (rules.last_day).
        day = obj.last_day
        if day is None:
            return gettext("While care continues, until cancelled")
        return gettext("Through %(day)s") % {"day": date_format(day)}

    @admin.display(description="同意した情報")
    def consented_items(self, obj):
        return "、".join(
            str(ConsentItem(item).label) if item in ConsentItem.values else item for item in obj.items
        )


class TelehealthAppForm(forms.Form):
    """What register_app needs, as an operator types it."""

    name = forms.CharField(label="名称 / Name", max_length=200)
    institutions = forms.CharField(
        label="医療機関等コード / Institution codes",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="10桁のコード。空白・改行・カンマ区切りで複数 / 10-digit codes, separated by spaces, lines or commas",
    )
    return_urls = forms.CharField(
        label="戻り先URL / Allowed return URLs",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="1行に1つ / one per line",
    )
    webhook_url = forms.CharField(label="Webhook URL", required=False, max_length=500)

    def clean_institutions(self):
        codes = [code for code in re.split(r"[\s,、]+", self.cleaned_data["institutions"]) if code]
        found = list(Institution.objects.filter(code__in=codes))
        missing = sorted(set(codes) - {institution.code for institution in found})
        if missing:
            raise forms.ValidationError(
                f"登録されていない医療機関等コード / unknown institution codes: {', '.join(missing)}",
                code="institution_unknown",
            )
        if not found:
            raise forms.ValidationError(
                "医療機関等コードを入力してください / give at least one institution code"
            )
        return found

    def clean_return_urls(self):
        return [line.strip() for line in self.cleaned_data["return_urls"].splitlines() if line.strip()]


def _operator(request) -> str:
    return f"admin:{request.user.get_username()}"


@admin.register(TelehealthApp)
class TelehealthAppAdmin(ReadOnlyAdmin):
    name_shown = shown_as("name", "名称")
    client_id_shown = shown_as("client_id", "クライアントID")
    webhook_url_shown = shown_as("webhook_url", "Webhook URL")
    created_at_shown = shown_as("created_at", "登録日時")
    revoked_at_shown = shown_as("revoked_at", "利用停止日時")
    list_display = (
        "name_shown",
        "client_id_shown",
        "webhook_url_shown",
        "created_at_shown",
        "revoked_at_shown",
    )
    exclude = ("secret_encrypted",)
    search_fields = ("name", "client_id")
    change_list_template = "admin/consent/telehealthapp/change_list.html"
    change_form_template = "admin/consent/telehealthapp/change_form.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("register/", view(self.register_view), name="consent_telehealthapp_register"),
            path("<int:pk>/rotate/", view(self.rotate_view), name="consent_telehealthapp_rotate"),
            path("<int:pk>/revoke/", view(self.revoke_view), name="consent_telehealthapp_revoke"),
        ] + super().get_urls()

    def _may_manage(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def _page(self, request, template, context, status=200):
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, **context}
        response = TemplateResponse(request, template, context, status=status)
        add_never_cache_headers(response)  # the secret page must not be kept by any cache
        return response

    def _secret_page(self, request, app, secret, title):
        return self._page(
            request, "admin/consent/telehealthapp/secret.html", {"title": title, "app": app, "secret": secret}
        )

    def register_view(self, request):
        if not self._may_manage(request):
            raise Http404
        form = TelehealthAppForm(request.POST or None)
        error = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                app, secret = telehealth.do_register_app(
                    data["name"],
                    institutions=data["institutions"],
                    allowed_return_urls=data["return_urls"],
                    webhook_url=data["webhook_url"].strip(),
                    by=_operator(request),
                )
            except HomeConsentError as exc:
                error = exc
            else:
                return self._secret_page(
                    request, app, secret, "オンライン診療アプリを登録しました / App registered"
                )
        return self._page(
            request,
            "admin/consent/telehealthapp/register.html",
            {"title": "オンライン診療アプリの登録 / Register a telehealth app", "form": form, "error": error},
            status=400 if request.method == "POST" else 200,
        )

    def _app(self, request, pk) -> TelehealthApp:
        if not self._may_manage(request):
            raise Http404
        app = TelehealthApp.objects.filter(pk=pk).first()
        if app is None:
            raise Http404
        return app

    def rotate_view(self, request, pk):
        app = self._app(request, pk)
        if request.method == "GET":
            return self._page(
                request,
                "admin/consent/telehealthapp/confirm.html",
                {"title": "秘密鍵の再発行 / Renew the secret", "app": app, "action": "rotate"},
            )
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        try:
            secret = telehealth.do_rotate_app_secret(app, by=_operator(request))
        except HomeConsentError as exc:
            messages.error(request, f"{exc.code}: {exc.message()}")
            return redirect(reverse("admin:consent_telehealthapp_change", args=[app.pk]))
        return self._secret_page(request, app, secret, "秘密鍵を再発行しました / Secret renewed")

    def revoke_view(self, request, pk):
        app = self._app(request, pk)
        if request.method == "GET":
            return self._page(
                request,
                "admin/consent/telehealthapp/confirm.html",
                {"title": "利用停止 / Revoke", "app": app, "action": "revoke"},
            )
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        telehealth.do_revoke_app(app, by=_operator(request))
        messages.success(request, "利用を停止しました / The app is revoked.")
        return redirect(reverse("admin:consent_telehealthapp_change", args=[app.pk]))


@admin.register(ConsentSession)
class ConsentSessionAdmin(OperatorReadLogMixin, ReadOnlyAdmin):
    created_at_shown = shown_as("created_at", "作成日時")
    app_shown = shown_as("app", "オンライン診療アプリ")
    institution_shown = shown_as("institution", "医療機関等", "institution__code")
    kind_shown = shown_as("kind", "種別")
    visit_date_shown = shown_as("visit_date", "診療予定日")
    items_asked = shown_as("items", "求めた情報")
    return_url_shown = shown_as("return_url", "戻り先URL")
    expires_at_shown = shown_as("expires_at", "同意の受付期限")
    status_shown = shown_as("status", "状態")
    consent_shown = shown_as("consent", "同意", "consent_id")
    completed_at_shown = shown_as("completed_at", "同意日時")
    list_display = (
        "created_at_shown",
        "app_shown",
        "institution_shown",
        "visit_date_shown",
        "status_shown",
        "consent_shown",
    )
    fields = (
        "created_at_shown",
        "app_shown",
        "institution_shown",
        "kind_shown",
        "visit_date_shown",
        "items_asked",
        "return_url_shown",
        "expires_at_shown",
        "status_shown",
        "consent_shown",
        "completed_at_shown",
    )
    readonly_fields = fields
    list_filter = ("status",)
    list_select_related = ("app", "institution", "consent")
    ordering = ("-created_at",)
    # A session with a consent names its person (the consent's row): one event per such person.
    access_items = ("consent",)
    log_changelist = True

    def person_id_of(self, obj):
        return obj.consent.person_id if obj.consent_id else None


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    created_at_shown = shown_as("created_at", "作成日時")
    app_shown = shown_as("app", "オンライン診療アプリ")
    event_shown = shown_as("event", "イベント")
    event_id_shown = shown_as("event_id", "イベントID")
    status_shown = shown_as("status", "状態")
    attempts_shown = shown_as("attempts", "送信回数")
    next_attempt_at_shown = shown_as("next_attempt_at", "次の送信")
    last_status_code_shown = shown_as("last_status_code", "最後の応答コード")
    list_display = (
        "created_at_shown",
        "app_shown",
        "event_shown",
        "event_id_shown",
        "status_shown",
        "attempts_shown",
        "next_attempt_at_shown",
        "last_status_code_shown",
    )
    list_filter = ("status", "event")
    list_select_related = ("app",)
    ordering = ("-created_at",)
