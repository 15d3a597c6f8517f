"""Create the test PKI (root, key, empty CRL) in settings.JPKI_PKI_DIR, or refresh its CRL."""

from django.conf import settings
from django.core.management.base import BaseCommand

from homeconsent.jpki.pki import TestPKI


class Command(BaseCommand):
    help = "Create the test JPKI user-authentication PKI if missing; re-sign its CRL when half stale."

    def handle(self, *args, **options):
        existed = TestPKI(settings.JPKI_PKI_DIR).exists()
        pki = TestPKI(settings.JPKI_PKI_DIR).init()
        root = pki.root_certificate
        crl = pki.crl()
        self.stdout.write(f"{'kept' if existed else 'created'} test PKI in {pki.directory}")
        self.stdout.write(
            f"root: {root.subject.rfc4514_string()}, valid until {root.not_valid_after_utc:%Y-%m-%d}"
        )
        self.stdout.write(
            f"CRL: {len(list(crl))} revoked, next update {crl.next_update_utc:%Y-%m-%d %H:%M} UTC"
        )
