"""The operator's disaster scopes in the admin (password + TOTP like every admin page): open one,
close it early, and see how many patients were found and views made under each.

Opening and closing go through services (validated, logged); nothing here edits a scope in place.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from homeconsent.audit.admin import operator_actor
from homeconsent.errors import HomeConsentError

from . import services
from .models import DisasterScope


class OpenScopeForm(forms.ModelForm):
    municipality_codes = forms.CharField(
        label="対象市区町村コード / municipality codes",
        help_text="6桁の全国地方公共団体コード。カンマまたは空白で区切る / 6-digit local government codes, "
        "separated by commas or spaces (e.g. 172014, 172022)",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    class Meta:
        model = DisasterScope
        fields = ("name", "municipality_codes", "starts_on", "ends_on")

    def clean(self):
        data = super().clean()
        try:
            data["name"], data["municipality_codes"] = services.clean_scope(
                data.get("name"),
                data.get("municipality_codes", ""),
                data.get("starts_on"),
                data.get("ends_on"),
            )
        except HomeConsentError as exc:
            raise forms.ValidationError(f"{exc.message()} ({exc.code})", code=exc.code) from None
        return data


@admin.register(DisasterScope)
class DisasterScopeAdmin(admin.ModelAdmin):
    list_display = ("name", "municipalities", "starts_on", "ends_on", "state", "found", "views")
    ordering = ("-opened_at",)
    actions = ["close_early"]
    readonly_fields = (
        "name",
        "municipalities",
        "starts_on",
        "ends_on",
        "opened_at",
        "opened_by",
        "closed_at",
        "closed_by",
        "found",
        "views",
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = OpenScopeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return OpenScopeForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # list and actions only

    def has_delete_permission(self, request, obj=None):
        return False  # scopes are referenced by encounters and by the access log

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        opened = services.do_open_disaster_scope(
            data["name"],
            data["municipality_codes"],
            data["starts_on"],
            data["ends_on"],
            by=operator_actor(request),
        )
        obj.pk, obj.opened_at, obj.opened_by = opened.pk, opened.opened_at, opened.opened_by
        obj._state.adding = False

    def _count(self, obj, name):
        # Per row (two small queries): scopes are few, and the admin instance holds no per-request state.
        return services.scope_counts([obj.pk]).get(obj.pk, {}).get(name, 0)

    @admin.display(description="市区町村 / municipalities")
    def municipalities(self, obj):
        return ", ".join(obj.municipality_codes)

    @admin.display(description="状態 / state")
    def state(self, obj):
        today = services._tokyo_day(timezone.now())
        if obj.closed_at is not None:
            return "早期終了 / closed early"
        if today < obj.starts_on:
            return "開始前 / not yet open"
        if today > obj.ends_on:
            return "期間終了 / period over"
        return "有効 / open"

    @admin.display(description="特定された患者 / patients found")
    def found(self, obj):
        return self._count(obj, "found")

    @admin.display(description="閲覧 / views")
    def views(self, obj):
        return self._count(obj, "views")

    @admin.action(description=_("Close the selected disaster scopes early"))
    def close_early(self, request, queryset):
        closed = 0
        for scope in queryset.filter(closed_at__isnull=True):
            try:
                services.do_close_disaster_scope(scope, by=operator_actor(request))
                closed += 1
            except HomeConsentError as exc:
                self.message_user(request, f"{scope}: {exc.message()} ({exc.code})", messages.ERROR)
        self.message_user(request, f"{closed} 件を終了しました / closed {closed}", messages.SUCCESS)
