"""Import public-expense certificates (公費): `manage.py import_public_expense FILE` (docs/import-format.md).
The same command as import_qualifications, with its own import and counts."""

from homeconsent.registry.imports import import_public_expense

from .import_qualifications import Command as ImportQualifications


class Command(ImportQualifications):
    help = (
        "Import public-expense certificates (公費; CSV with a header, or JSON Lines for .jsonl/.ndjson); "
        "all or nothing."
    )
    run_import = staticmethod(import_public_expense)

    @staticmethod
    def counts(report) -> str:
        return f"{report.created} created, {report.changed} changed"
