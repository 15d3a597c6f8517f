"""The access log in the admin, and how every admin page that shows a person's data logs that read.

An operator's look at a person's data is a read like any other: OperatorReadLogMixin writes it to
the access log in the transaction that renders the page, and the person sees it on the portal
(basis "operator"; "admin_view" for a detail or history page, "admin_list" for each person a list
page shows). The registry, consent and access-log admins all log through it.
"""

from django.contrib import admin
from django.contrib.admin.utils import display_for_field
from django.db import transaction

from .models import AccessEvent, Action, ActorType, Basis, Checkpoint, Outcome
from .services import record_access, record_accesses


def operator_actor(request) -> str:
    return f"admin:{request.user.username}"


class OperatorReadLogMixin:
    """A ModelAdmin whose rows name a person: its detail and history pages log one event naming
    the person and the items the page shows; with log_changelist, a list page logs one event per
    person on it. A row naming nobody (person_id_of gives None) logs nothing."""

    access_items: tuple = ()
    log_changelist = False  # True: the list shows personal data, one event per person on the page

    def person_id_of(self, obj) -> int | None:
        return obj.person_id

    def items_shown(self, obj) -> list[str]:
        return list(self.access_items)

    def _log_view(self, request, obj, **detail):
        person_id = self.person_id_of(obj)
        if person_id is None:
            return
        record_access(
            actor_type=ActorType.OPERATOR,
            actor_id=operator_actor(request),
            person=person_id,
            items=self.items_shown(obj),
            basis=Basis.OPERATOR,
            outcome=Outcome.OK,
            detail={
                "action": Action.ADMIN_VIEW,
                "model": self.model._meta.model_name,
                "object_id": obj.pk,
                **detail,
            },
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None:
            return super().changeform_view(request, object_id, form_url, extra_context)
        with transaction.atomic():
            response = super().changeform_view(request, object_id, form_url, extra_context)
            obj = (getattr(response, "context_data", None) or {}).get("original")
            if response.status_code == 200 and obj is not None:
                response.render()  # the read happens here: inside the transaction that logs it
                self._log_view(request, obj)
        return response

    def history_view(self, request, object_id, extra_context=None):
        # The history page names the row (a person's name, a consent's person) in its title.
        with transaction.atomic():
            response = super().history_view(request, object_id, extra_context)
            obj = (getattr(response, "context_data", None) or {}).get("object")
            if response.status_code == 200 and obj is not None:
                response.render()
                self._log_view(request, obj, page="history")
        return response

    def changelist_view(self, request, extra_context=None):
        if not self.log_changelist:
            return super().changelist_view(request, extra_context)
        with transaction.atomic():
            response = super().changelist_view(request, extra_context)
            changelist = (getattr(response, "context_data", None) or {}).get("cl")
            if response.status_code == 200 and changelist is not None:
                response.render()
                persons = sorted({self.person_id_of(obj) for obj in changelist.result_list} - {None})
                record_accesses(
                    {
                        "actor_type": ActorType.OPERATOR,
                        "actor_id": operator_actor(request),
                        "person": person_id,
                        "items": list(self.access_items),
                        "basis": Basis.OPERATOR,
                        "outcome": Outcome.OK,
                        "detail": {"action": Action.ADMIN_LIST, "model": self.model._meta.model_name},
                    }
                    for person_id in persons
                )
        return response


def shown_as(field_name: str, description: str, ordering: str | None = None):
    """A model field under a Japanese heading, for list_display and read-only detail fields: the
    heading of a plain field name is the model's verbose_name, left English on some fields, and
    changing it would need a migration of a model shared with other work."""

    @admin.display(description=description, ordering=ordering or field_name)
    def show(model_admin, obj):
        # Related rows as their text, no link: a list's first column is already a link.
        field = obj._meta.get_field(field_name)
        return display_for_field(getattr(obj, field_name), field, model_admin.get_empty_value_display())

    return show


class ReadOnlyMixin:
    """Lists and shows, never adds, changes or deletes: every change goes through a do_* service,
    which logs it. For ModelAdmins and inlines alike (inlines pass obj to has_add_permission)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The log is append-only: its admin is read-only."""


@admin.register(AccessEvent)
class AccessEventAdmin(OperatorReadLogMixin, ReadOnlyAdmin):
    # An event names the person (name and birth date) and what was read about them: looking at
    # it is itself a read of that person's access history.
    person_shown = shown_as("person", "本人", "person_id")
    detail_shown = shown_as("detail", "詳細")
    chain_shown = shown_as("chain", "チェーン")
    seq_shown = shown_as("seq", "連番")
    hash_shown = shown_as("hash", "ハッシュ値")
    list_display = (
        "occurred_at",
        "actor_type",
        "actor_id",
        "institution_code",
        "person_shown",
        "basis",
        "outcome",
        "chain_shown",
        "seq_shown",
    )
    fields = (
        "occurred_at",
        "actor_type",
        "actor_id",
        "institution_code",
        "person_shown",
        "items",
        "basis",
        "outcome",
        "consent_id",
        "detail_shown",
        "chain_shown",
        "seq_shown",
        "hash_shown",
    )
    readonly_fields = fields
    list_filter = ("actor_type", "basis", "outcome")
    search_fields = ("actor_id", "institution_code", "consent_id", "=person__id")
    date_hierarchy = "occurred_at"
    list_select_related = ("person",)
    ordering = ("-occurred_at", "-id")
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is needless
    access_items = ("access_log", "person")
    log_changelist = True


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "public_key")
    ordering = ("-id",)
