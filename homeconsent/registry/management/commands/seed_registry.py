"""Seed a deterministic synthetic registry: `manage.py seed_registry --persons N --seed S`."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from homeconsent.registry.seeding import HISTORY_MONTHS, registry_digest, seed_demo_persons, seed_registry


class Command(BaseCommand):
    help = "Seed a synthetic registry (persons, qualifications, certificates, medication, checkups, ...)."

    def add_arguments(self, parser):
        parser.add_argument("--persons", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--as-of", help="the day the data is current on (YYYY-MM-DD; default today)")
        parser.add_argument(
            "--months",
            type=int,
            default=HISTORY_MONTHS,
            help="months of medication and treatment history (default: the 3 years kept)",
        )
        parser.add_argument("--chunk-size", type=int, default=2000, help="persons written per transaction")
        parser.add_argument(
            "--demo-persons", action="store_true", help="also add the well-known demo persons"
        )
        parser.add_argument(
            "--digest",
            action="store_true",
            help="print a digest of the whole registry afterwards (equal digests: the same rows)",
        )

    def handle(self, *args, persons, seed, as_of, months, chunk_size, demo_persons, digest, **options):
        if persons < 0 or chunk_size < 1:
            raise CommandError("--persons must be >= 0 and --chunk-size >= 1")
        try:
            day = date.fromisoformat(as_of) if as_of else None
        except ValueError as exc:
            raise CommandError(f"--as-of: {exc}") from exc
        verbose = options["verbosity"] > 1

        def progress(done, total, seconds):
            if verbose:
                self.stderr.write(f"  {done:,}/{total:,} persons, {seconds:.1f} s")

        summary = seed_registry(
            persons, seed, as_of=day, months=months, chunk_size=chunk_size, progress=progress
        )
        for line in summary.lines():
            self.stdout.write(line)
        if demo_persons:
            for d in seed_demo_persons(as_of=day):
                self.stdout.write(
                    f"  demo {d['slug']:<18} {d['name']}  {d['insurer_number']}:{d['symbol']}:{d['number']}:{d['branch']}"
                    f"  {d['birth_date']}  {d['situation']}"
                )
        if digest:
            self.stdout.write(f"digest {registry_digest()}")
