"""Present a virtual My Number card in a PC/SC reader, through vsmartcard's vpcd driver for pcscd.

vpcd's protocol over TCP: every message is a two-byte big-endian length and a payload. A one-byte
payload from vpcd is a control: 00 power off, 01 power on, 02 reset, 04 get ATR (answered with
the ATR); anything longer is a command APDU, answered with the response APDU. The card is
"present" while the TCP connection stands.

Two ways to meet vpcd:

* ``VpcdCard(card, host, port)``: the card connects to vpcd (Debian's default reader.conf,
  ``DEVICENAME /dev/null:0x8C7B``: vpcd listens on port 35963 *of every interface*). If pcscd
  restarts, the card reconnects.
* ``VpcdCard(card, host, port, listen=True)``: the card listens and vpcd connects to it
  (reader.conf ``DEVICENAME 127.0.0.1:0xPORT``, ``CHANNELID 0xPORT``). This keeps everything on
  the loopback interface; the tests use it.

Usage: ``VpcdCard(card).start()``, ``.remove()`` (drop the connection: pcscd sees the card
go), ``.insert()``, ``.stop()``; or ``python manage.py serve_card CARD_FILE --vpcd HOST:PORT``.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading

log = logging.getLogger(__name__)

VPCD_PORT = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04
_POLL = 0.25  # how often blocking calls look at stop/remove


def _quick_ack(conn: socket.socket) -> None:
    # vpcd writes a message's length and body separately; with Nagle on its side and delayed
    # ACKs on ours every APDU would wait 40 ms. Linux clears TCP_QUICKACK after use: set it again.
    if hasattr(socket, "TCP_QUICKACK"):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


class _Closed(Exception):
    """The connection ended (peer closed it, or we were told to stop or to pull the card)."""


class VpcdCard:
    """A thread connecting *card* (a VirtualJPKICard) to vpcd."""

    def __init__(
        self,
        card,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        *,
        listen: bool = False,
        reconnect_delay: float = 0.5,
    ):
        self.card = card
        self.host = host
        self.port = port
        self.listen = listen
        self.reconnect_delay = reconnect_delay
        self._stopping = threading.Event()
        self._present = threading.Event()
        self._present.set()
        self._connected = threading.Event()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.sessions = 0  # how many connections vpcd has had with the card

    # --- control ------------------------------------------------------------------------------
    def start(self) -> VpcdCard:
        if self.listen:
            self._server = socket.create_server((self.host, self.port))
            self._server.settimeout(_POLL)
            self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=f"vpcd-card-{self.port}", daemon=True)
        self._thread.start()
        return self

    def wait_connected(self, timeout: float) -> bool:
        """True once vpcd and the card are connected."""
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def remove(self) -> None:
        """Pull the card: close the connection and keep it closed until insert()."""
        self._present.clear()

    def insert(self) -> None:
        self._present.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._present.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._server is not None:
            self._server.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- the thread ---------------------------------------------------------------------------
    def _run(self):
        while not self._stopping.is_set():
            if not self._present.wait(_POLL):
                if self.listen:
                    self._turn_away()
                continue
            conn = self._accept() if self.listen else self._connect()
            if conn is None:
                continue
            self.sessions += 1
            self._connected.set()
            try:
                with conn:
                    self._serve(conn)
            except _Closed:
                pass
            except OSError as error:
                log.info("vpcd connection lost: %s", error)
            finally:
                self._connected.clear()
                self.card.reset()
            if not self.listen and not self._stopping.is_set():
                self._stopping.wait(self.reconnect_delay)

    def _connect(self) -> socket.socket | None:
        try:
            conn = socket.create_connection((self.host, self.port), timeout=2.0)
        except OSError:
            self._stopping.wait(self.reconnect_delay)  # vpcd not (yet, or no longer) there
            return None
        log.info("virtual card connected to vpcd at %s:%d", self.host, self.port)
        return conn

    def _accept(self) -> socket.socket | None:
        try:
            conn, peer = self._server.accept()
        except (TimeoutError, OSError):
            return None
        log.info("vpcd connected from %s:%d", *peer[:2])
        return conn

    def _turn_away(self) -> None:
        """While the card is out, vpcd's connection attempts end at once (no card), not hang."""
        conn = self._accept()
        if conn is not None:
            conn.close()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            (length,) = struct.unpack(">H", self._recv_exact(conn, 2))
            payload = self._recv_exact(conn, length) if length else b""
            if len(payload) == 1:
                answer = self._control(payload[0])
            elif payload:
                answer = self.card.transmit(payload)
            else:
                answer = None
            if not self._present.is_set():
                raise _Closed  # pulled mid-command: nothing more leaves the card
            if answer is not None:
                conn.sendall(struct.pack(">H", len(answer)) + answer)

    def _control(self, code: int) -> bytes | None:
        if code in (POWER_OFF, POWER_ON, RESET):
            self.card.reset()
            return None
        if code == GET_ATR:
            return bytes(self.card.atr)
        log.debug("unknown vpcd control %02x", code)
        return None

    def _recv_exact(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            if self._stopping.is_set() or not self._present.is_set():
                raise _Closed
            try:
                chunk = conn.recv(n - len(data))
            except TimeoutError:
                continue
            if not chunk:
                raise _Closed
            _quick_ack(conn)
            data += chunk
        return data
