"""python manage.py create_institution_admin <institution code> <username> [--base-url URL] [--role staff]

Creates a console account for an institution and prints its one-time enrolment link, with which the
person sets a password and enrols a TOTP app. No password is ever typed on the command line.
"""

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from homeconsent.accounts.models import StaffRole
from homeconsent.accounts.services import do_create_staff
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Institution


class Command(BaseCommand):
    help = "Create an institution console account (admin by default) and print its one-time enrolment link."

    def add_arguments(self, parser):
        parser.add_argument("institution", help="10-digit institution code")
        parser.add_argument("username")
        parser.add_argument(
            "--role", choices=[r.value for r in StaffRole], default=StaffRole.INSTITUTION_ADMIN.value
        )
        parser.add_argument("--base-url", default="http://localhost:8000", help="the site's public URL")

    def handle(self, *args, **options):
        institution = Institution.objects.filter(code=options["institution"]).first()
        if institution is None:
            raise CommandError(f"no institution with code {options['institution']}")
        try:
            membership, token = do_create_staff(
                institution, options["username"], options["role"], by="operator:cli"
            )
        except HomeConsentError as exc:
            raise CommandError(str(exc)) from None
        url = options["base_url"].rstrip("/") + reverse("console:enrol", args=[token])
        self.stdout.write(
            f"{membership.user.username} ({membership.role}) of {institution.code} {institution.name}"
        )
        self.stdout.write(f"enrolment link (one use): {url}")
