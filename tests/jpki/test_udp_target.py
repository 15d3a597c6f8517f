"""The virtual card over nfcpy's udp transport, read by nfcpy's own reader side (Type4BTag)."""

import hashlib
import socket
import threading
import time

import nfc
import nfc.clf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from nfc.tag.tt4 import Type4BTag, Type4TagCommandError

from homeconsent.jpki.card import JPKI_AID, VirtualJPKICard
from homeconsent.jpki.udp_target import UdpCardTarget
from tests.jpki.virtual_cards import CARD_PIN, card, card_file, card_pki, card_template  # noqa: F401

DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


@pytest.fixture
def target(card):  # noqa: F811
    with UdpCardTarget(card, "127.0.0.1", 0) as target:
        yield target


@pytest.fixture
def reader(target):
    clf = nfc.ContactlessFrontend(target.path)
    yield clf
    clf.close()


def connect(clf, seconds=5.0):
    deadline = time.monotonic() + seconds
    return clf.connect(
        rdwr={"targets": ["106B"], "on-connect": lambda tag: False, "beep-on-connect": False},
        terminate=lambda: time.monotonic() > deadline,
    )


def apdu(tag, ins, p1, p2, data=None, mrl=0, cla=0x00):
    response = bytes(tag.send_apdu(cla, ins, p1, p2, data, mrl=mrl, check_status=False))
    return response[:-2], response[-2:].hex().upper()


def select_app(tag):
    assert apdu(tag, 0xA4, 0x04, 0x0C, JPKI_AID) == (b"", "9000")


def select_ef(tag, fid):
    return apdu(tag, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))[1]


def read_certificate(tag, fid=0x000A):
    """As readers do: size from the first 4 bytes, then 256-byte reads (the last one short)."""
    assert select_ef(tag, fid) == "9000"
    head, sw = apdu(tag, 0xB0, 0, 0, mrl=4)
    assert sw == "9000"
    size = int.from_bytes(head[2:4], "big") + 4
    data = b""
    while len(data) < size:
        chunk, sw = apdu(tag, 0xB0, len(data) >> 8, len(data) & 0xFF, mrl=256)
        assert sw == "9000"
        data += chunk
    return data


def test_a_reader_finds_a_type_4b_tag(reader, target):
    # when
    tag = connect(reader)
    # then
    assert isinstance(tag, Type4BTag)
    assert bytes(tag.identifier) == target.pupi
    assert target.activations == 1


def test_the_certificate_reads_byte_exact_over_chained_frames(reader, card):  # noqa: F811
    # given
    tag = connect(reader)
    select_app(tag)
    # when
    certificate = read_certificate(tag)
    # then: 256-byte answers do not fit one 253-byte frame, so the card chained them
    assert len(certificate) > 1000
    assert certificate == card.auth_cert_der
    assert read_certificate(tag, 0x000B) == card.ca_cert_der


def test_a_wrong_pin_lowers_the_tries_left(reader):
    # given
    tag = connect(reader)
    select_app(tag)
    assert select_ef(tag, 0x0018) == "9000"
    assert apdu(tag, 0x20, 0x00, 0x80)[1] == "63C3"
    # when
    _, sw = apdu(tag, 0x20, 0x00, 0x80, b"9999")
    # then
    assert sw == "63C2"
    assert apdu(tag, 0x20, 0x00, 0x80)[1] == "63C2"


def test_pin_and_signature_over_udp_verify_with_the_certificate(reader):
    # given
    tag = connect(reader)
    select_app(tag)
    certificate = x509.load_der_x509_certificate(read_certificate(tag))
    message = b"consent challenge"
    digest_info = DIGEST_INFO_SHA256 + hashlib.sha256(message).digest()
    # when
    assert select_ef(tag, 0x0018) == "9000"
    assert apdu(tag, 0x20, 0x00, 0x80, CARD_PIN.encode())[1] == "9000"
    assert select_ef(tag, 0x0017) == "9000"
    signature, sw = apdu(tag, 0x2A, 0x00, 0x80, digest_info, mrl=256, cla=0x80)
    # then
    assert sw == "9000" and len(signature) == 256
    certificate.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_a_chained_command_arrives_whole(reader):
    # given: 255 data bytes make a 261-byte APDU, more than one 253-byte frame
    tag = connect(reader)
    # when
    _, sw = apdu(tag, 0xA4, 0x04, 0x00, b"\xa0" * 255)
    # then: the card parsed a well-formed SELECT of a foreign AID (a broken chain would be 6700)
    assert sw == "6A82"


def test_pulling_the_card_makes_the_reader_fail_and_a_new_tap_starts_afresh(reader, target):
    # given: a verified PIN
    tag = connect(reader)
    select_app(tag)
    select_ef(tag, 0x0018)
    assert apdu(tag, 0x20, 0x00, 0x80, CARD_PIN.encode())[1] == "9000"
    # when
    target.remove()
    # then
    with pytest.raises(Type4TagCommandError):
        apdu(tag, 0x20, 0x00, 0x80)
    assert not tag.is_present
    # when: the card is put back and tapped again
    target.insert()
    tag = connect(reader)
    # then: power was lost, the PIN must be entered again
    select_app(tag)
    assert select_ef(tag, 0x0017) == "9000"
    _, sw = apdu(tag, 0x2A, 0x00, 0x80, DIGEST_INFO_SHA256 + bytes(32), mrl=256, cla=0x80)
    assert sw == "6982"
    assert target.activations == 2


def test_after_deselect_the_card_can_be_activated_again(reader, target):
    # given
    tag = connect(reader)
    # when
    assert bytes(reader.exchange(bytearray(b"\xc2"), 1.0)) == b"\xc2"
    # then
    tag = connect(reader)
    select_app(tag)
    assert target.activations == 2


def test_stop_frees_the_port(card):  # noqa: F811
    # given
    target = UdpCardTarget(card, "127.0.0.1", 0).start()
    port = target.port
    # when
    target.stop()
    # then
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))


def test_a_busy_port_is_reported(card):  # noqa: F811
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        with pytest.raises(OSError):
            UdpCardTarget(card, "127.0.0.1", s.getsockname()[1]).start()


@pytest.mark.slow
def test_serve_card_runs_the_udp_target_as_a_process_that_can_pull_the_card(card_file):  # noqa: F811
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.jpki.virtual_cards import free_port

    port = free_port()
    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, str(repo / "manage.py"), "serve_card", str(card_file), "--udp", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=repo,
        env=dict(__import__("os").environ, DJANGO_SETTINGS_MODULE="tests.settings"),
    )
    clf = nfc.ContactlessFrontend(f"udp:127.0.0.1:{port}")
    try:
        assert "udp:127.0.0.1:%d" % port in process.stdout.readline()
        tag = connect(clf)
        select_app(tag)
        assert select_ef(tag, 0x0018) == "9000"
        assert apdu(tag, 0x20, 0x00, 0x80)[1] == "63C3"
        # when: SIGUSR1 pulls the card
        process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        # then
        with pytest.raises(Type4TagCommandError):
            apdu(tag, 0x20, 0x00, 0x80)
        # when: SIGUSR2 puts it back, SIGTERM stops
        process.send_signal(signal.SIGUSR2)
        assert connect(clf) is not None
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        clf.close()
        if process.poll() is None:
            process.kill()
        process.stdout.close()


def test_iso_dep_block_rules_for_lost_frames(reader):
    # given: an activated card (block numbers start at 0 on the reader side)
    connect(reader)
    select = b"\x00\xa4\x04\x0c\x0a" + JPKI_AID
    # when: an I-block, then an R(NAK) with the same number as if its answer had been lost
    first = bytes(reader.exchange(bytearray(b"\x02" + select), 1.0))
    again = bytes(reader.exchange(bytearray(b"\xb2"), 1.0))
    # then: the card sends its last block again (ISO 14443-4 rule 11)
    assert first == again == b"\x02\x90\x00"
    # when: an R(NAK) with the other number (nfcpy's presence check)
    # then: the card acknowledges with its own block number (rule 12)
    assert bytes(reader.exchange(bytearray(b"\xb3"), 1.0)) == b"\xa2"


class SlowSigningCard(VirtualJPKICard):
    """A card that takes 3 s to sign, as on a machine under heavy load."""

    def transmit(self, capdu):
        if capdu[:2] == b"\x80\x2a":
            time.sleep(3.0)
        return super().transmit(capdu)


def test_a_slow_answer_keeps_the_reader_waiting_with_wtx(card_file):  # noqa: F811
    # given: signing outlasts the frame waiting time (about 1.24 s) more than twice
    slow = SlowSigningCard.load(card_file)
    with UdpCardTarget(slow, "127.0.0.1", 0) as target:
        clf = nfc.ContactlessFrontend(target.path)
        try:
            tag = connect(clf)
            select_app(tag)
            select_ef(tag, 0x0018)
            assert apdu(tag, 0x20, 0x00, 0x80, CARD_PIN.encode())[1] == "9000"
            select_ef(tag, 0x0017)
            # when
            signature, sw = apdu(
                tag, 0x2A, 0x00, 0x80, DIGEST_INFO_SHA256 + hashlib.sha256(b"m").digest(), mrl=256, cla=0x80
            )
            # then: the answer arrives, and the block numbers still agree on the next command
            assert sw == "9000" and len(signature) == 256
            assert select_ef(tag, 0x0018) == "9000"
            assert apdu(tag, 0x20, 0x00, 0x80)[1] == "63C3"
        finally:
            clf.close()


class GatedCard(VirtualJPKICard):
    """A card that answers a command only once the test opens its gate."""

    gate: threading.Event

    def transmit(self, capdu):
        self.gate.wait(5)
        return super().transmit(capdu)


def send_frame(sock, target, frame):
    sock.sendto(b"106B " + frame.hex().encode(), ("127.0.0.1", target.port))


def receive_frame(sock, timeout=1.0):
    sock.settimeout(timeout)
    data, _ = sock.recvfrom(1024)
    return bytes.fromhex(data.split()[1].decode())


def test_a_poll_right_after_the_field_goes_off_is_answered(card_file):  # noqa: F811
    # given: a card activated by a raw udp reader, busy with a command
    gated = GatedCard.load(card_file)
    gated.gate = threading.Event()
    with (
        UdpCardTarget(gated, "127.0.0.1", 0) as target,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        send_frame(sock, target, b"\x05\x00\x10")
        assert receive_frame(sock)[:5] == b"\x50" + target.pupi
        send_frame(sock, target, b"\x1d" + target.pupi + b"\x00\x08\x01\x00")
        assert receive_frame(sock) == b"\x00"
        send_frame(sock, target, b"\x02\x00\xa4\x04\x0c\x0a" + JPKI_AID)
        # when: the reader switches the field off and polls at once, both before the card is free
        sock.sendto(b"RFOFF", ("127.0.0.1", target.port))
        send_frame(sock, target, b"\x05\x00\x10")
        gated.gate.set()
        # then: the card answers the command, and then the poll (a reader would otherwise wait
        # a whole poll timeout, ~1 s, before polling again)
        assert receive_frame(sock) == b"\x02\x90\x00"
        assert receive_frame(sock, 0.5)[:5] == b"\x50" + target.pupi


def test_a_poll_during_an_activation_is_answered(reader, target):
    # given: an activated card
    connect(reader)
    # when: the reader polls again without switching its field off
    answer = reader.exchange(bytearray(b"\x05\x00\x10"), 0.5)
    # then: the card answers as a card newly in the field, and a new ATTRIB activates it
    assert bytes(answer)[:5] == b"\x50" + target.pupi
    assert bytes(reader.exchange(bytearray(b"\x1d" + target.pupi + b"\x00\x08\x01\x00"), 0.5)) == b"\x00"
    assert target.activations == 2


def test_the_pin_stays_out_of_the_card_sides_debug_logs(card_file, caplog):  # noqa: F811
    # given: nfcpy's loggers let everything through, as in a fresh `serve_card` process run at DEBUG
    caplog.set_level(1)
    caplog.set_level(1, logger="nfc")
    with (
        UdpCardTarget(VirtualJPKICard.load(card_file), "127.0.0.1", 0) as target,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        send_frame(sock, target, b"\x05\x00\x10")
        receive_frame(sock)
        send_frame(sock, target, b"\x1d" + target.pupi + b"\x00\x08\x01\x00")
        receive_frame(sock)
        # when: a reader verifies the PIN
        for block, apdu_bytes in (
            (0x02, b"\x00\xa4\x04\x0c\x0a" + JPKI_AID),
            (0x03, b"\x00\xa4\x02\x0c\x02\x00\x18"),
            (0x02, b"\x00\x20\x00\x80\x04" + CARD_PIN.encode()),
        ):
            send_frame(sock, target, bytes([block]) + apdu_bytes)
            answer = receive_frame(sock)
    # then: the card took it, and no log record holds it
    assert answer == b"\x02\x90\x00"
    assert caplog.records
    assert CARD_PIN.encode().hex() not in caplog.text.lower() and CARD_PIN not in caplog.text
