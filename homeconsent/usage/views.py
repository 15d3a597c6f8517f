"""The operator's usage page in the admin (/admin/usage/): tables, charts and the CSV download.

Reached only through OperatorAdminSite.admin_view (a staff session verified with TOTP); the pages
show counts only, so reading them writes no access-log row (no person's data is read).
"""

from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from homeconsent.errors import HomeConsentError
from homeconsent.spreadsheet import csv_text

from . import report
from .charts import colour, render_stacked


def usage_report(request, admin_site):
    today = timezone.localdate()
    start, end = report.default_range(today)
    error = None
    try:
        if request.GET.get("from"):
            start = report.parse_month(request.GET["from"])
        if request.GET.get("to"):
            end = report.parse_month(request.GET["to"])
        months = report.months_between(start, end)
    except HomeConsentError as exc:
        error = exc
        start, end = report.default_range(today)
        months = report.months_between(start, end)
    tables = report.usage_tables(months)
    if request.GET.get("format") == "csv" and error is None:
        body = csv_text([_("table"), _("month"), _("key"), _("label"), _("count")], report.csv_rows(tables))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="usage-{start:%Y-%m}-{end:%Y-%m}.csv"'
        return response
    sections = [
        {
            "table": table,
            "svg": render_stacked(table, title_id=f"usage-chart-{table.key}"),
            "legend": [(label, colour(i)) for i, (_key, label) in enumerate(table.columns)],
        }
        for table in tables
    ]
    context = {
        **admin_site.each_context(request),
        "title": _("Usage statistics"),
        "sections": sections,
        "start": f"{start:%Y-%m}",
        "end": f"{end:%Y-%m}",
        "error": error,
    }
    return TemplateResponse(request, "admin/usage/report.html", context, status=400 if error else 200)
