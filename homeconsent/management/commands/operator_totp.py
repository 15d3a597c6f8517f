"""Give an operator (a staff account of the admin) a new TOTP device and print it once."""

import base64

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from homeconsent.admin_site import create_operator_device


class Command(BaseCommand):
    help = "Give an operator a new TOTP device (earlier ones stop working) and print its otpauth URL and secret once."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
        if user is None:
            raise CommandError(
                f"operator_unknown: no active staff account named {username!r} (create it with createsuperuser)"
            )
        device = create_operator_device(user)
        self.stdout.write(f"TOTP app URL (shown once): {device.config_url}")
        self.stdout.write(f"secret (base32, for typing in): {base64.b32encode(device.bin_key).decode()}")
