"""Import qualification records: `manage.py import_qualifications FILE` (docs/import-format.md)."""

import getpass
import json

from django.core.management.base import BaseCommand, CommandError

from homeconsent.registry.imports import import_qualifications


class Command(BaseCommand):
    help = (
        "Import qualification records (CSV with a header, or JSON Lines for .jsonl/.ndjson); all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="validate and count, apply nothing")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as JSON")
        parser.add_argument("--operator", help="who runs the import (default: the OS user)")

    # import_public_expense reuses this command with its own import and counts.
    run_import = staticmethod(import_qualifications)

    @staticmethod
    def counts(report) -> str:
        return f"{report.created} created, {report.changed} changed, {report.corrected} corrected"

    def handle(self, *args, file, dry_run, as_json, operator, **options):
        report = self.run_import(file, dry_run=dry_run, actor_id=operator or getpass.getuser())
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            for e in report.errors:
                self.stderr.write(
                    f"line {e.line}: {e.field}: {e.code}: {e.error.message('ja')} / {e.error.message('en')}"
                )
            state = (
                "applied"
                if report.applied
                else ("dry run, nothing applied" if not report.errors else "nothing applied")
            )
            self.stdout.write(
                f"{report.rows} rows: {self.counts(report)}, {report.unchanged} unchanged ({state})"
            )
        if report.errors:
            raise CommandError(f"{len(report.errors)} error(s) in {file}: nothing was applied", returncode=2)
