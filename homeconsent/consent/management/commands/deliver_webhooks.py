"""Post the telehealth-app webhooks that are due (retries with backoff; see consent/webhooks.py)."""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from homeconsent.consent.webhooks import deliver_due


class Command(BaseCommand):
    help = "Deliver due telehealth-app webhooks once, or keep delivering with --loop."

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", action="store_true", help="keep running, checking every --interval seconds"
        )
        parser.add_argument("--interval", type=float, default=5.0)
        parser.add_argument("--limit", type=int, default=100, help="deliveries per round")

    def handle(self, *args, loop=False, interval=5.0, limit=100, **options):
        while True:
            counts = deliver_due(limit=limit)
            if any(counts.values()) or not loop:
                self.stdout.write(" ".join(f"{name}={count}" for name, count in counts.items()))
            if not loop:
                return
            time.sleep(interval)
            close_old_connections()  # a long-running loop must not keep a broken or stale connection
