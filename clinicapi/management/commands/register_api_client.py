"""register_api_client: register an institution system as a client of the institutions' API."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clinicapi.auth import do_register_client
from clinicapi.scopes import DEFAULT_SCOPES, SCOPES, parse_scope
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Institution


class Command(BaseCommand):
    help = (
        "Register an API client for an institution with its public keys. Prints the client id on "
        "standard output (and the key ids on standard error)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--institution", required=True, help="10-digit institution code (医療機関等コード)"
        )
        parser.add_argument("--name", required=True, help="what the client is, e.g. 'EHR production'")
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument(
            "--jwks", metavar="FILE", help="JWKS file with the public keys ('-' for standard input)"
        )
        keys.add_argument("--public-key", metavar="PEM", help="PEM public key file ('-' for standard input)")
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            help=f"allowed scope, repeatable or space separated; known: {' '.join(SCOPES)}; "
            f"default: {' '.join(DEFAULT_SCOPES)}",
        )

    def handle(self, *args, institution, name, jwks, public_key, scope, **options):
        try:
            institution_row = Institution.objects.get(code=institution)
        except Institution.DoesNotExist:
            raise CommandError(
                f"医療機関等コード {institution} の施設は登録されていません / no institution {institution}"
            ) from None
        source = jwks or public_key
        try:
            material = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(f"{source}: {exc.strerror}") from None
        scopes = [s for item in scope for s in parse_scope(item)] or list(DEFAULT_SCOPES)
        try:
            client = do_register_client(
                institution_row, name, material, scopes, by="manage.py register_api_client"
            )
        except HomeConsentError as exc:
            raise CommandError(str(exc)) from None
        kids = ", ".join(k["kid"] for k in client.jwks["keys"])
        self.stderr.write(f"{institution_row} / {client.name}: kid {kids}; scopes {' '.join(client.scopes)}")
        self.stdout.write(client.client_id)
