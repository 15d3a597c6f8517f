from django.contrib import admin

from .models import AccessEvent, Checkpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    """The log is append-only: the admin lists and shows, never adds, changes or deletes."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "actor_type", "actor_id", "institution_code", "person", "basis", "outcome", "chain", "seq")
    list_filter = ("actor_type", "basis", "outcome")
    search_fields = ("actor_id", "institution_code", "consent_id", "=person__id")
    date_hierarchy = "occurred_at"
    list_select_related = ("person",)
    ordering = ("-occurred_at", "-id")
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is needless


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "public_key")
    ordering = ("-id",)
