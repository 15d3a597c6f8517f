"""The card side of vpcd's protocol, against a stand-in for vpcd speaking it over loopback TCP.
(The real vpcd and pcscd are exercised by test_opensc.py.)"""

import socket
import struct

import pytest

from homeconsent.jpki.card import ATR, JPKI_AID
from homeconsent.jpki.vpcd import VpcdCard
from tests.jpki.virtual_cards import card, card_file, card_pki, card_template  # noqa: F401


class FakeVpcd:
    """The reader side: listens like vpcd in its default mode, sends controls and APDUs."""

    def __init__(self, port=0):
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(5)
        self.port = self.server.getsockname()[1]
        self.conn = None

    def accept(self):
        self.conn, _ = self.server.accept()
        self.conn.settimeout(5)

    def send(self, payload: bytes):
        self.conn.sendall(struct.pack(">H", len(payload)) + payload)

    def receive(self) -> bytes:
        (length,) = struct.unpack(">H", self._exact(2))
        return self._exact(length)

    def transmit(self, apdu_hex: str) -> str:
        self.send(bytes.fromhex(apdu_hex))
        return self.receive().hex().upper()

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def close(self):
        if self.conn:
            self.conn.close()
        self.server.close()


@pytest.fixture
def vpcd():
    fake = FakeVpcd()
    yield fake
    fake.close()


def test_the_card_answers_controls_and_apdus(card, vpcd):  # noqa: F811
    with VpcdCard(card, "127.0.0.1", vpcd.port):
        vpcd.accept()
        vpcd.send(b"\x04")
        assert vpcd.receive() == ATR
        vpcd.send(b"\x01")  # power on: no answer, then APDUs
        assert vpcd.transmit("00A4040C0A" + JPKI_AID.hex()) == "9000"
        assert vpcd.transmit("00A4020C020018") == "9000"
        assert vpcd.transmit("0020008004" + b"0000".hex()) == "63C2"
        assert vpcd.transmit("0020008004" + b"1234".hex()) == "9000"
        # a reset clears the PIN state
        vpcd.send(b"\x02")
        assert vpcd.transmit("00A4040C0A" + JPKI_AID.hex()) == "9000"
        assert vpcd.transmit("00A4020C020017") == "9000"
        assert vpcd.transmit("802A008033" + "00" * 51 + "00") == "6982"


def test_the_card_reconnects_when_vpcd_comes_back(card, vpcd):  # noqa: F811
    target = VpcdCard(card, "127.0.0.1", vpcd.port, reconnect_delay=0.1).start()
    try:
        vpcd.accept()
        assert vpcd.transmit("00A4040C0A" + JPKI_AID.hex()) == "9000"
        # when: pcscd restarts
        port = vpcd.port
        vpcd.close()
        restarted = FakeVpcd(port)
        try:
            restarted.accept()
            # then
            restarted.send(b"\x04")
            assert restarted.receive() == ATR
            assert target.sessions == 2
        finally:
            restarted.close()
    finally:
        target.stop()


def test_pulling_the_card_drops_the_connection_until_it_is_put_back(card, vpcd):  # noqa: F811
    with VpcdCard(card, "127.0.0.1", vpcd.port, reconnect_delay=0.1) as target:
        vpcd.accept()
        assert target.wait_connected(5)
        # when
        target.remove()
        # then: vpcd sees the connection close (the card is gone)
        vpcd.send(b"\x04")
        with pytest.raises((ConnectionError, OSError)):
            vpcd.receive()
        # when
        target.insert()
        vpcd.accept()
        vpcd.send(b"\x04")
        assert vpcd.receive() == ATR


def test_in_listen_mode_vpcd_connects_to_the_card_on_loopback(card):  # noqa: F811
    with VpcdCard(card, "127.0.0.1", 0, listen=True) as target:
        with socket.create_connection(("127.0.0.1", target.port), timeout=5) as conn:
            conn.sendall(b"\x00\x01\x04")
            assert conn.recv(64) == struct.pack(">H", len(ATR)) + ATR


def test_in_listen_mode_a_pulled_card_turns_vpcd_away(card):  # noqa: F811
    with VpcdCard(card, "127.0.0.1", 0, listen=True) as target:
        target.remove()
        with socket.create_connection(("127.0.0.1", target.port), timeout=5) as conn:
            conn.sendall(b"\x00\x01\x04")
            try:
                answer = conn.recv(64)
            except ConnectionResetError:
                answer = b""
            assert answer == b""  # closed: no card
        target.insert()
        with socket.create_connection(("127.0.0.1", target.port), timeout=5) as conn:
            conn.sendall(b"\x00\x01\x04")
            assert conn.recv(64).endswith(ATR)
