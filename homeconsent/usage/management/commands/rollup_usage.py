from django.core.management.base import BaseCommand

from homeconsent.usage.rollup import CHUNK, do_rollup_usage


class Command(BaseCommand):
    help = "Add the access-log rows appended since the last run to the monthly usage counts (cron it)."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=CHUNK)

    def handle(self, *args, chunk_size, **options):
        read = do_rollup_usage(chunk=max(1, chunk_size))
        self.stdout.write(f"OK {read} access-log rows rolled up")
