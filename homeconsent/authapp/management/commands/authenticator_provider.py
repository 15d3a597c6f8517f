"""python manage.py authenticator_provider --port N [--client ID --redirect-uri URI --client-jwks-uri URL]…

The stand-in authentication app (homeconsent/authapp/standin.py) as its own HTTP process on 127.0.0.1.
Each --client takes the --redirect-uri and --client-jwks-uri that follow it; with no --client it
registers this service's own client from the settings. It prints its issuer URL on start.
"""

import json
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from homeconsent.authapp.standin import Client, Holder, serve


class Command(BaseCommand):
    help = "Run the stand-in authentication app (OpenID Connect provider) for the demo and tests."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="0: any free port")
        parser.add_argument("--client", action="append", default=[], dest="clients")
        parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        parser.add_argument("--client-jwks-uri", action="append", default=[], dest="jwks_uris")
        parser.add_argument("--card", required=True, help="the virtual card file the phone holds")
        parser.add_argument(
            "--holder",
            required=True,
            help='the card holder\'s four attributes, JSON: {"name", "birthdate", "gender", "address"}',
        )

    def handle(self, *args, host, port, clients, redirect_uris, jwks_uris, card, holder, **options):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise CommandError("the stand-in provider listens on the loopback interface only")
        if clients:
            if not (len(clients) == len(redirect_uris) == len(jwks_uris)):
                raise CommandError("each --client needs one --redirect-uri and one --client-jwks-uri")
            registered = [
                Client(c, [r], j) for c, r, j in zip(clients, redirect_uris, jwks_uris, strict=True)
            ]
        else:
            if not (settings.AUTH_APP_REDIRECT_URI and settings.AUTH_APP_CLIENT_JWKS_URI):
                raise CommandError(
                    "no --client given and HOMECONSENT_AUTH_APP_REDIRECT_URI / HOMECONSENT_AUTH_APP_CLIENT_JWKS_URI unset"
                )
            registered = [
                Client(
                    settings.AUTH_APP_CLIENT_ID,
                    [settings.AUTH_APP_REDIRECT_URI],
                    settings.AUTH_APP_CLIENT_JWKS_URI,
                )
            ]
        try:
            attributes = json.loads(holder)
            person = Holder(
                attributes["name"], attributes["birthdate"], attributes["gender"], attributes["address"]
            )
        except (ValueError, KeyError, TypeError) as error:
            raise CommandError(f"--holder is not the four attributes as JSON: {error}") from None
        server, provider = serve(host, port, clients=registered, card_path=card, holder=person)
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        self.stdout.write(f"issuer: {provider.issuer}")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
