"""python manage.py reader_bridge [--device usb | --device udp:127.0.0.1:PORT] [--origin URL]...

Runs the reader bridge in the foreground until Ctrl-C or SIGTERM. Without a reader it keeps
serving (status answers reader: false, card requests get no_reader, and the reader is looked for
again on every request, so plugging it in later works); with --require-reader it prints why and
exits with status 1 instead.
"""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from homeconsent.jpki.bridge import ReaderBridge


class Command(BaseCommand):
    help = "Run the local reader bridge: pages of the configured origins use the My Number card through it."
    # A device-side helper that uses no database or URLs: it starts without the project's checks.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--device",
            default="usb",
            help="nfcpy device path: usb (first supported USB reader), usb:054c:06c3 (a given model), "
            "or udp:127.0.0.1:PORT for a virtual card (default: usb)",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=settings.READER_BRIDGE_PORT,
            help=f"port on {settings.READER_BRIDGE_HOST} (default: settings.READER_BRIDGE_PORT)",
        )
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            metavar="URL",
            help="also serve pages of this origin, e.g. https://consent.example.jp (repeatable)",
        )
        parser.add_argument(
            "--require-reader",
            action="store_true",
            help="exit with an error when no reader is found at start instead of waiting for one",
        )

    def handle(self, *args, **options):
        origins = list(settings.READER_BRIDGE_ALLOWED_ORIGINS) + options["origin"]
        try:
            bridge = ReaderBridge(
                options["device"], host=settings.READER_BRIDGE_HOST, port=options["port"], origins=origins
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        try:
            asyncio.run(self._serve(bridge, options["require_reader"]))
        except OSError as error:
            raise CommandError(
                f"cannot listen on {settings.READER_BRIDGE_HOST}:{options['port']}: {error.strerror}"
            ) from None

    async def _serve(self, bridge: ReaderBridge, require_reader: bool):
        reader = await bridge.probe_reader()
        if not reader["reader"]:
            if require_reader:
                await bridge.aclose()
                raise CommandError(reader["message_en"])
            self.stderr.write(f"{reader['message_en']}; looking again on every request")
        else:
            self.stdout.write(f"reader: {reader['reader_name']}")
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
        await bridge.start_serving()
        self.stdout.write(f"reader bridge on {bridge.url} for {', '.join(bridge.origins)} (Ctrl-C stops it)")
        await bridge.serve_until(stop)
