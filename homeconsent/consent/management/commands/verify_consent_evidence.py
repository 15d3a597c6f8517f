"""manage.py verify_consent_evidence ID: re-verify a consent's stored proof offline; say what it proves."""

from django.core.management.base import BaseCommand, CommandError

from homeconsent.consent.evidence import check_evidence
from homeconsent.consent.models import Consent


class Command(BaseCommand):
    help = "Re-verify the stored proof of a consent (card signature and certificate, or ID token) offline."

    def add_arguments(self, parser):
        parser.add_argument("consent_id", type=int)

    def handle(self, *args, consent_id, **options):
        consent = (
            Consent.objects.select_related("challenge", "card_certificate", "institution")
            .filter(pk=consent_id)
            .first()
        )
        if consent is None:
            raise CommandError(f"no consent {consent_id}")
        check = check_evidence(consent)
        route = {"app": "認証アプリ (authentication app)", "reader": "カードリーダー (card reader)"}.get(
            check.authenticator, check.authenticator
        )
        if not check.ok:
            raise CommandError(f"consent {consent_id} ({route}): NOT VERIFIED: {check.says}")
        self.stdout.write(f"consent {consent_id} ({route}): verified: {check.says}")
