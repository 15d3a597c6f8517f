"""Register a telehealth app; prints its client id and secret (the secret is shown this once)."""

from django.core.management.base import BaseCommand, CommandError

from homeconsent.consent.telehealth import do_register_app
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Institution


class Command(BaseCommand):
    help = "Register a telehealth app that may ask for consent on behalf of the named institutions."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--institution", action="append", required=True, help="10-digit code; repeat for more"
        )
        parser.add_argument("--return-url", action="append", required=True, help="allowed return URL; repeat")
        parser.add_argument("--webhook-url", default="")
        parser.add_argument("--operator", default="operator", help="who registers it (for the access log)")

    def handle(self, *args, **o):
        codes = o["institution"]
        institutions = list(Institution.objects.filter(code__in=codes))
        missing = sorted(set(codes) - {i.code for i in institutions})
        if missing:
            raise CommandError(f"unknown institution code(s): {', '.join(missing)}")
        try:
            app, secret = do_register_app(
                o["name"],
                institutions=institutions,
                allowed_return_urls=o["return_url"],
                webhook_url=o["webhook_url"],
                by=o["operator"],
            )
        except HomeConsentError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"client_id: {app.client_id}\nsecret:    {secret}\n(store the secret now: it is not shown again)"
        )
