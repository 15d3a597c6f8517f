"""Delete batch pre-checks (一括照会) whose results have expired, with their stored results (run
daily from cron)."""

from django.core.management.base import BaseCommand

from clinicapi.batch import BATCH_RESULT_TTL, do_purge_expired


class Command(BaseCommand):
    help = f"Delete batch pre-checks whose results expired ({BATCH_RESULT_TTL.days} days after submission)."

    def handle(self, *args, **options):
        batches, chunks = do_purge_expired()
        self.stdout.write(f"deleted {batches} expired batch(es) and {chunks} stored result chunk(s)")
