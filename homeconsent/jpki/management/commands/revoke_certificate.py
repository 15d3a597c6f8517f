"""Revoke a test-PKI user-authentication certificate: CRL re-signed, linkage marked revoked."""

from django.core.management.base import BaseCommand, CommandError

from homeconsent.jpki.pki import REVOCATION_REASONS, do_revoke_card_certificate


class Command(BaseCommand):
    help = "Revoke a certificate of the test PKI by serial (hex)."

    def add_arguments(self, parser):
        parser.add_argument("--serial", required=True, help="certificate serial, hex")
        parser.add_argument("--reason", default="unspecified", choices=sorted(REVOCATION_REASONS))

    def handle(self, *args, serial, reason, **options):
        try:
            number = int(serial.lower().removeprefix("0x").replace(":", ""), 16)
        except ValueError:
            raise CommandError(f"not a hex serial: {serial!r}") from None
        marked = do_revoke_card_certificate(number, reason)
        self.stdout.write(
            f"revoked {number:x} ({reason}); CRL updated; {marked} registered certificate(s) marked revoked"
        )
