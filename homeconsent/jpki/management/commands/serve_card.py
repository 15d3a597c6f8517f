"""python manage.py serve_card CARD_FILE (--udp HOST:PORT | --vpcd HOST:PORT [--vpcd-listen])

Lays a virtual My Number card on a virtual reader until Ctrl-C or SIGTERM:

  --udp HOST:PORT     an ISO 14443 Type 4B target on nfcpy's udp transport; a reader (or the reader
                      bridge) opens udp:HOST:PORT. Default port 54321, nfcpy's default.
  --vpcd HOST:PORT    a card in vsmartcard's PC/SC reader: the card connects to vpcd (default
                      127.0.0.1:35963) and reconnects when pcscd restarts.
  --vpcd-listen       the card listens on HOST:PORT instead and vpcd connects to it (reader.conf
                      DEVICENAME HOST:0xPORT), which keeps the connection on the loopback interface.

SIGUSR1 pulls the card off the reader, SIGUSR2 puts it back.
"""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from homeconsent.jpki.card import CardFileError, VirtualJPKICard
from homeconsent.jpki.udp_target import UdpCardTarget
from homeconsent.jpki.vpcd import VPCD_PORT, VpcdCard

UDP_PORT = 54321


def host_port(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "")
    try:
        return host or "127.0.0.1", int(port) if port else default_port
    except ValueError:
        raise CommandError(f"not HOST:PORT: {value}") from None


class Command(BaseCommand):
    help = "Serve a virtual My Number card on nfcpy's udp transport or in vpcd's PC/SC reader."

    def add_arguments(self, parser):
        parser.add_argument("card_file")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--udp", metavar="HOST:PORT", nargs="?", const=f"127.0.0.1:{UDP_PORT}")
        where.add_argument("--vpcd", metavar="HOST:PORT", nargs="?", const=f"127.0.0.1:{VPCD_PORT}")
        parser.add_argument(
            "--vpcd-listen", action="store_true", help="wait for vpcd to connect to HOST:PORT"
        )

    def handle(self, *args, card_file, udp, vpcd, vpcd_listen, **options):
        try:
            card = VirtualJPKICard.load(card_file)
        except CardFileError as error:
            raise CommandError(str(error)) from None
        if udp is None and vpcd is None:
            vpcd = f"127.0.0.1:{VPCD_PORT}"
        try:
            if udp is not None:
                host, port = host_port(udp, UDP_PORT)
                server = UdpCardTarget(card, host, port).start()
                where = f"nfcpy path {server.path}"
            else:
                host, port = host_port(vpcd, VPCD_PORT)
                server = VpcdCard(card, host, port, listen=vpcd_listen).start()
                where = f"vpcd {'connecting to us at' if vpcd_listen else 'at'} {host}:{server.port}"
        except OSError as error:
            raise CommandError(f"cannot serve the card: {error}") from None

        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGUSR1, lambda *_: server.remove())
        signal.signal(signal.SIGUSR2, lambda *_: server.insert())
        label = f" ({card.label})" if card.label else ""
        self.stdout.write(f"virtual card{label} on {where}; PIN tries left {card.tries_left}", ending="\n")
        self.stdout.flush()
        try:
            while not done.wait(0.5):
                pass
        finally:
            server.stop()
        self.stdout.write("card removed, stopped")
