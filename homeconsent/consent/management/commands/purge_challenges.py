"""Delete card-auth challenges nobody answered, a day after they expired, and day-old consent-flow
drafts (run daily from cron)."""

import datetime

from django.core.management.base import BaseCommand

from homeconsent.consent.challenges import purge_expired_challenges
from homeconsent.consent.drafts import purge_old_drafts


class Command(BaseCommand):
    help = "Delete unused card-auth challenges expired for more than --days days (used ones stay)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=float, default=1.0, help="expired for more than this long (default 1)"
        )

    def handle(self, *args, days=1.0, **options):
        deleted = purge_expired_challenges(older_than=datetime.timedelta(days=days))
        self.stdout.write(f"deleted {deleted} unused expired challenge(s)")
        drafts = purge_old_drafts(older_than=datetime.timedelta(days=days))
        if drafts:
            self.stdout.write(f"deleted {drafts} consent-flow draft(s) older than {days:g} day(s)")
