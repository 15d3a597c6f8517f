"""The reader bridge, end to end: a real WebSocket client as the page, the bridge on an ephemeral port,
nfcpy's udp transport, and the virtual card served as an ISO 14443-4 Type B target."""

import base64
import datetime
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nfc.clf.udp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.management import CommandError, call_command
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from homeconsent.jpki import challenge_message
from homeconsent.jpki.bridge import ReaderBridge
from homeconsent.jpki.card import VirtualJPKICard, create_card_file
from homeconsent.jpki.pki import TestPKI
from homeconsent.jpki.udp_target import UdpCardTarget

ORIGIN = "http://127.0.0.1:8000"
PIN = "7392"
WRONG_PIN = "1111"
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


# --- fixtures: a test PKI, one card key, a card file per test, its udp target, the bridge ---------
@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki")).init()


@pytest.fixture(scope="module")
def card_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def certificate(pki, card_key):
    return pki.issue_user_auth_certificate(card_key.public_key(), datetime.date(1948, 4, 2))


def der(certificate):
    return certificate.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def card_file(tmp_path, pki, card_key, certificate):
    return create_card_file(
        tmp_path / "card.json",
        auth_key=card_key,
        auth_cert_der=der(certificate),
        ca_cert_der=pki.root_certificate_der,
        pin=PIN,
    )


class RecordingCard(VirtualJPKICard):
    """The virtual card, keeping the commands it got (so a test can tell whether a PIN was sent),
    and able to be pulled off the reader just as a chosen command arrives."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands = []
        self.pull_when = None  # a predicate on a command APDU
        self.target = None

    def transmit(self, capdu):
        self.commands.append(bytes(capdu))
        if self.pull_when is not None and self.pull_when(bytes(capdu)):
            self.pull_when = None
            # remove() waits for the target thread, which is the one running this: pull from aside.
            threading.Thread(target=self.target.remove).start()
            while self.target.present:
                time.sleep(0.001)
        return super().transmit(capdu)

    def verifications(self):
        """VERIFY commands that carried a PIN (the tries query is VERIFY without data)."""
        return [c for c in self.commands if c[1] == 0x20 and len(c) > 4]


class CardSlot:
    """A virtual card on a udp target, which can be restarted from its card file (a power cut)."""

    def __init__(self, card_file):
        self.card_file = card_file
        self.port = 0
        self.card = None
        self.target = None

    def start(self):
        self.card = RecordingCard.load(self.card_file)
        self.target = UdpCardTarget(self.card, "127.0.0.1", self.port).start()
        self.card.target = self.target
        self.port = self.target.port
        return self

    def stop(self):
        if self.target is not None:
            self.target.stop()
            self.target = None


@pytest.fixture
def slot(card_file):
    slot = CardSlot(card_file).start()
    yield slot
    slot.stop()


@pytest.fixture
def bridge(slot):
    bridge = ReaderBridge(f"udp:127.0.0.1:{slot.port}", origins=[ORIGIN]).start()
    yield bridge
    bridge.stop()


@pytest.fixture
def page(bridge):
    with connect(bridge.url, origin=ORIGIN, open_timeout=5) as websocket:
        yield websocket


_ids = iter(range(1, 1_000_000))


def send(websocket, type, **fields):
    request_id = next(_ids)
    websocket.send(json.dumps({"id": request_id, "type": type, **fields}))
    return request_id


def answer(websocket, request_id, timeout=15):
    """The final answer to a request and the progress steps reported before it."""
    steps = []
    while True:
        message = json.loads(websocket.recv(timeout=timeout))
        assert message["id"] == request_id
        if message["type"] != "progress":
            return message, steps
        steps.append(message["step"])


def ask(websocket, type, **fields):
    return answer(websocket, send(websocket, type, **fields))[0]


def digest_info_of(message: bytes) -> str:
    return base64.b64encode(SHA256_DIGEST_INFO + hashlib.sha256(message).digest()).decode()


def challenge(origin=ORIGIN, *, expires_in=datetime.timedelta(minutes=5), **fields) -> bytes:
    """A HomeConsent challenge message (version 2) as the server issues it for a page of `origin`."""
    values = {
        "nonce": base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
        "purpose": "consent",
        "institution": "0110113719",
        "items": ["medication", "qualification"],
        "kind": "home_visit",
        "details": {},
        "expires_at": datetime.datetime.now(datetime.UTC) + expires_in,
        "origin": origin,
        **fields,
    }
    return challenge_message.challenge_message(**values)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def authenticate(websocket, pin, message=None, **fields):
    return ask(websocket, "authenticate", challenge_message=b64(message or challenge()), pin=pin, **fields)


# --- status and certificates ------------------------------------------------------------------
def test_status_reports_the_reader_and_whether_a_card_is_on_it(page, slot):
    present = ask(page, "status")
    slot.target.remove()
    absent = ask(page, "status")

    assert present["type"] == "status"
    assert present["reader"] is True and present["device"] == f"udp:127.0.0.1:{slot.port}"
    assert present["card"] is True
    assert absent["reader"] is True and absent["card"] is False


def test_read_certificate_is_byte_exact_for_a_certificate_longer_than_a_frame(page, certificate, pki):
    message, steps = answer(page, send(page, "read_certificate"))

    read = base64.b64decode(message["certificate"])
    assert len(read) > 256  # more than one READ BINARY and more than one ISO-DEP frame
    assert read == der(certificate)
    assert base64.b64decode(message["ca_certificate"]) == pki.root_certificate_der
    assert steps == ["waiting_for_card", "reading"]


def test_no_card_within_the_timeout_is_no_card(page, slot):
    slot.target.remove()

    refused = ask(page, "read_certificate", timeout=1)

    assert refused["type"] == "error" and refused["code"] == "no_card"
    assert refused["message"] and refused["message_en"]


# --- the PIN ----------------------------------------------------------------------------------
def test_wrong_pins_count_down_then_lock_and_the_lock_survives_a_restart(page, slot):
    before = ask(page, "tries_left")
    first = authenticate(page, WRONG_PIN)
    second = authenticate(page, WRONG_PIN)
    third = authenticate(page, WRONG_PIN)
    verifications_when_locked = len(slot.card.verifications())
    with_right_pin = authenticate(page, PIN)

    assert before["tries_left"] == 3
    assert (first["code"], first["tries_left"]) == ("pin_incorrect", 2)
    assert (second["code"], second["tries_left"]) == ("pin_incorrect", 1)
    assert (third["code"], third["tries_left"]) == ("pin_locked", 0)
    # Locked: even the right PIN is refused, and no VERIFY with a PIN reaches the card.
    assert with_right_pin["code"] == "pin_locked"
    assert len(slot.card.verifications()) == verifications_when_locked == 3

    slot.stop()
    slot.start()
    assert ask(page, "tries_left")["tries_left"] == 0
    assert authenticate(page, PIN)["code"] == "pin_locked"


def test_a_right_pin_resets_the_count(page):
    wrong = authenticate(page, WRONG_PIN)
    right = authenticate(page, PIN)

    assert wrong["tries_left"] == 2
    assert right["type"] == "authenticate" and right["tries_left"] == 3
    assert ask(page, "tries_left")["tries_left"] == 3


def test_authenticate_returns_a_signature_over_the_challenge_message_by_the_certificate_key(
    page, certificate
):
    message = challenge()
    request_id = send(page, "authenticate", challenge_message=b64(message), pin=PIN)
    result, steps = answer(page, request_id)

    signature = base64.b64decode(result["signature"])
    card_certificate = x509.load_der_x509_certificate(base64.b64decode(result["certificate"]))
    assert card_certificate == certificate
    card_certificate.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    assert steps == ["waiting_for_card", "reading", "verifying_pin", "signing"]
    assert result["tries_left"] == 3


def test_back_to_back_operations_find_the_card_at_the_first_poll(page, slot, monkeypatch):
    # given: a card slow to power down after use (as on a loaded machine), so the next operation's
    # poll is already waiting when the card is ready; every poll of the bridge's reader is counted
    reset = slot.card.reset

    def slow_reset():
        if slot.card._session.app_selected:
            time.sleep(0.05)
        return reset()

    monkeypatch.setattr(slot.card, "reset", slow_reset)
    polls = []
    sense_ttb = nfc.clf.udp.Device.sense_ttb
    monkeypatch.setattr(
        nfc.clf.udp.Device, "sense_ttb", lambda device, target: polls.append(1) or sense_ttb(device, target)
    )
    # when: operations follow each other at once, each ending with the field switched off
    results = [ask(page, "tries_left")["type"] for _ in range(10)]
    # then: the card answered the first poll of each (a missed one costs the page ~1.1 s)
    assert results == ["tries_left"] * 10
    assert len(polls) == 10
    assert slot.target.activations == 10


def test_a_card_without_a_pin_is_refused_with_pin_not_set(tmp_path, pki, card_key, certificate):
    no_pin = create_card_file(
        tmp_path / "face-only.json",
        auth_key=card_key,
        auth_cert_der=der(certificate),
        ca_cert_der=pki.root_certificate_der,
        pin=None,
    )
    slot = CardSlot(no_pin).start()
    bridge = ReaderBridge(f"udp:127.0.0.1:{slot.port}", origins=[ORIGIN]).start()
    try:
        with connect(bridge.url, origin=ORIGIN) as websocket:
            refused = authenticate(websocket, PIN)
    finally:
        bridge.stop()
        slot.stop()

    assert refused["code"] == "pin_not_set"
    assert slot.card.verifications() == []


class ForeignCard(RecordingCard):
    """An ISO 14443-4 Type B card without the JPKI application (a driving licence, say)."""

    def transmit(self, capdu):
        if bytes(capdu[:4]) == bytes.fromhex("00A4040C"):
            self.commands.append(bytes(capdu))
            return bytes.fromhex("6A82")
        return super().transmit(capdu)


def test_a_card_without_the_jpki_application_is_not_jpki_card(card_file):
    target = UdpCardTarget(ForeignCard.load(card_file), "127.0.0.1", 0).start()
    bridge = ReaderBridge(target.path, origins=[ORIGIN]).start()
    try:
        with connect(bridge.url, origin=ORIGIN) as websocket:
            read = ask(websocket, "read_certificate")
            refused = authenticate(websocket, PIN)
    finally:
        bridge.stop()
        target.stop()

    assert read["code"] == "not_jpki_card" and refused["code"] == "not_jpki_card"
    assert target.card.verifications() == []


def test_a_card_answering_an_unexpected_status_is_card_error(page, slot):
    # given: the card cannot record its PIN counter (its file's directory is gone), so it answers
    # VERIFY with 6581 (memory failure) rather than compare the PIN unrecorded
    store = slot.card_file.parent
    moved = store.with_name(store.name + "-moved")
    store.rename(moved)
    try:
        # when
        refused = authenticate(page, PIN)
    finally:
        moved.rename(store)
    # then
    assert refused["code"] == "card_error" and "6581" in refused["message_en"]
    assert PIN not in json.dumps(refused)
    assert ask(page, "tries_left")["tries_left"] == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"pin": "12345"},
        {"pin": "12a4"},
        {"pin": "１２３４"},  # full-width digits are not ASCII digits
        {"pin": 1234},
        {"timeout": -1},
    ],
)
def test_malformed_authenticate_requests_are_bad_request_and_never_reach_verify(page, slot, fields):
    request = {"challenge_message": b64(challenge()), "pin": PIN, **fields}

    refused = ask(page, "authenticate", **request)

    assert refused["code"] == "bad_request"
    assert slot.card.verifications() == []
    assert slot.card.tries_left == 3


# --- the bridge signs only HomeConsent challenges for the page that sent them ------------------------
def v1_message() -> bytes:
    """A challenge of the first protocol (no format, no origin): stored evidence only, never signed now."""
    fields = json.loads(challenge())
    del fields["format"], fields["origin"]
    return challenge_message.encode({**fields, "v": 1})


def reformatted(**changes) -> bytes:
    return json.dumps({**json.loads(challenge()), **changes}, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "request_fields,code",
    [
        # a page of an allowed origin asking for a signature over a digest of its choosing (protocol 1)
        ({"digest_info": digest_info_of(b"a chosen message")}, "digest_refused"),
        ({"challenge_message": b64(b"a chosen message")}, "challenge_not_ours"),
        ({"challenge_message": "not base64!"}, "challenge_not_ours"),
        (
            {"challenge_message": b64(json.dumps({"format": "other-site", "v": 2}).encode())},
            "challenge_not_ours",
        ),
        ({"challenge_message": b64(v1_message())}, "challenge_not_ours"),
        ({"challenge_message": b64(reformatted(v=3))}, "challenge_not_ours"),
        ({"challenge_message": b64(reformatted(purpose="sign_document"))}, "challenge_not_ours"),
        (
            {"challenge_message": b64(reformatted(institution="0110113710"))},
            "challenge_not_ours",
        ),  # check digit
        (
            {"challenge_message": b64(reformatted(institution=None))},
            "challenge_not_ours",
        ),  # only portal sign-in
        ({"challenge_message": b64(reformatted(extra="field"))}, "challenge_not_ours"),
        (
            {"challenge_message": b64(challenge().replace(b'{"', b'{ "', 1))},
            "challenge_not_ours",
        ),  # not canonical
        ({"challenge_message": b64(challenge("https://evil.example"))}, "challenge_wrong_origin"),
        ({"challenge_message": b64(challenge(expires_in=datetime.timedelta(minutes=-5)))}, "challenge_stale"),
        ({"challenge_message": b64(challenge(expires_in=datetime.timedelta(days=2)))}, "challenge_stale"),
    ],
)
def test_anything_but_a_fresh_homeconsent_challenge_for_this_page_is_refused_before_the_pin(
    page, slot, request_fields, code
):
    # when a page sends something else than a challenge of ours for its own origin
    refused = ask(page, "authenticate", pin=PIN, **request_fields)
    # then the bridge refuses it with a code, and the card never saw the PIN nor signed
    assert refused["type"] == "error" and refused["code"] == code, refused
    assert refused["message"] and refused["message_en"]
    assert slot.card.verifications() == []


def test_a_portal_sign_in_challenge_names_no_institution_and_is_signed(page):
    result = authenticate(
        page, PIN, challenge(purpose="portal_login", institution=None, items=[], kind="signin")
    )
    assert result["type"] == "authenticate" and result["signature"]


def test_the_status_says_which_protocol_the_bridge_speaks(page):
    assert ask(page, "status")["protocol"] == 2


def test_unknown_types_and_non_json_are_bad_request(page):
    unknown = ask(page, "format_card")
    page.send("{not json")
    garbled = json.loads(page.recv(timeout=5))

    assert unknown["code"] == "bad_request"
    assert garbled["code"] == "bad_request" and garbled["id"] is None


def test_the_pin_appears_in_no_log_output(slot, caplog, capfd):
    # An operator chasing a reader problem turns every logger to DEBUG, then starts the bridge.
    for name in (None, "nfc", "homeconsent", "homeconsent.jpki.bridge.websocket"):
        caplog.set_level(1, logger=name)
    bridge = ReaderBridge(f"udp:127.0.0.1:{slot.port}", origins=[ORIGIN]).start()
    # The page's own WebSocket log is the browser's business, not the bridge's: keep it quiet.
    quiet_page = logging.getLogger("tests.page")
    quiet_page.setLevel(logging.WARNING)
    try:
        with connect(bridge.url, origin=ORIGIN, logger=quiet_page) as websocket:
            wrong = authenticate(websocket, WRONG_PIN)
            right = authenticate(websocket, PIN)
    finally:
        bridge.stop()

    assert wrong["code"] == "pin_incorrect" and right["type"] == "authenticate"
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    out, err = capfd.readouterr()
    for pin in (PIN, WRONG_PIN):
        for form in (pin, pin.encode().hex(), pin.encode().hex().upper()):
            assert form not in logged
            assert form not in out + err
    assert "authenticate refused: pin_incorrect" in caplog.text  # the bridge did log the requests


# --- the card leaving, the page leaving, several pages -----------------------------------------
def test_pulling_the_card_while_reading_the_certificate_is_card_removed(page, slot):
    slot.card.pull_when = lambda apdu: apdu[1] == 0xB0 and apdu[2] == 0x01  # READ BINARY at 256

    refused = ask(page, "read_certificate")

    assert refused["code"] == "card_removed"
    assert not slot.target.present


def test_pulling_the_card_as_it_signs_is_card_removed_and_the_pin_count_stays(page, slot):
    slot.card.pull_when = lambda apdu: apdu[:2] == b"\x80\x2a"

    refused = authenticate(page, PIN)
    slot.target.insert()

    assert refused["code"] == "card_removed"
    assert ask(page, "tries_left")["tries_left"] == 3


def test_a_card_pulled_as_the_pin_reaches_it_says_a_try_may_be_used(page, slot):
    # given the card leaves the reader just as the VERIFY with the PIN arrives
    slot.card.pull_when = lambda apdu: apdu[1] == 0x20 and len(apdu) > 5

    refused = authenticate(page, PIN)

    # then the page learns that the PIN had gone to the card (a try may have been used)
    assert refused["code"] == "card_removed" and refused["pin_tried"] is True


def test_a_card_pulled_before_or_after_the_pin_check_says_no_try_was_used(page, slot):
    # before the PIN: while the certificate is read
    slot.card.pull_when = lambda apdu: apdu[1] == 0xB0 and apdu[2] == 0x01
    before = authenticate(page, PIN)
    slot.target.insert()
    # after the card accepted the PIN: as it signs
    slot.card.pull_when = lambda apdu: apdu[:2] == b"\x80\x2a"
    after = authenticate(page, PIN)

    assert before["code"] == after["code"] == "card_removed"
    assert before["pin_tried"] is False and after["pin_tried"] is False


def test_a_second_concurrent_request_gets_busy(bridge, slot):
    slot.target.remove()
    with connect(bridge.url, origin=ORIGIN) as first, connect(bridge.url, origin=ORIGIN) as second:
        request_id = send(first, "authenticate", challenge_message=b64(challenge()), pin=PIN, timeout=20)
        assert json.loads(first.recv(timeout=5))["step"] == "waiting_for_card"

        busy_other_page = ask(second, "status")
        busy_same_page = ask(first, "tries_left")
        slot.target.insert()
        result, _ = answer(first, request_id)
        after = ask(second, "tries_left")

    assert busy_other_page["code"] == "busy" and busy_same_page["code"] == "busy"
    assert result["type"] == "authenticate" and result["signature"]
    assert after["tries_left"] == 3  # free again once the first operation ended


def test_closing_the_page_stops_the_wait_for_a_card(bridge, slot):
    slot.target.remove()
    with connect(bridge.url, origin=ORIGIN) as leaving:
        send(leaving, "read_certificate", timeout=60)
        assert json.loads(leaving.recv(timeout=5))["step"] == "waiting_for_card"
    left_at = time.monotonic()

    # The wait ends at the next discovery round (one second on udp), not after the 60 seconds.
    with connect(bridge.url, origin=ORIGIN) as next_page:
        while (status := ask(next_page, "status"))["type"] == "error" and time.monotonic() - left_at < 5:
            assert status["code"] == "busy"
            time.sleep(0.1)

    assert status["type"] == "status" and status["card"] is False
    assert time.monotonic() - left_at < 5


# --- who may connect ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://127.0.0.1:8001",
        None,
        "null",
        "HTTP://127.0.0.1:8000",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8000.evil.example",
        "https://127.0.0.1:8000",
    ],
)
def test_a_page_of_another_origin_is_refused_at_the_handshake(bridge, origin):
    with pytest.raises(InvalidStatus) as refused:
        connect(bridge.url, origin=origin, open_timeout=5)

    assert refused.value.response.status_code == 403


def test_configured_origins_are_compared_as_browsers_send_them(slot):
    bridge = ReaderBridge(
        f"udp:127.0.0.1:{slot.port}", origins=["HTTPS://Consent.Example.JP:443/", "http://localhost:8000/"]
    ).start()
    try:
        with connect(bridge.url, origin="https://consent.example.jp", open_timeout=5) as websocket:
            status = ask(websocket, "status")
    finally:
        bridge.stop()

    assert bridge.origins == ["https://consent.example.jp", "http://localhost:8000"]
    assert status["type"] == "status"


@pytest.mark.parametrize(
    "origin",
    ["null", "*", "https://*.example.jp", "file://", "https://consent.example.jp/consent", "ws://x.jp", ""],
)
def test_an_origin_that_names_no_site_is_not_configurable(origin):
    with pytest.raises(ValueError):
        ReaderBridge("udp:127.0.0.1:54321", origins=[ORIGIN, origin])


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.jp"])
def test_the_bridge_listens_on_loopback_only(host):
    with pytest.raises(ValueError):
        ReaderBridge("udp:127.0.0.1:54321", host=host, origins=[ORIGIN])


def test_the_command_serves_an_origin_given_to_it_until_sigterm(slot):
    command = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "reader_bridge",
            "--device",
            f"udp:127.0.0.1:{slot.port}",
            "--port",
            "0",
            "--origin",
            "https://consent.example.jp",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "tests.settings"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [command.stdout.readline(), command.stdout.readline()]
        url = re.search(r"ws://127\.0\.0\.1:\d+", lines[1]).group(0)
        with connect(url, origin="https://consent.example.jp") as websocket:
            status = ask(websocket, "status")
        command.send_signal(signal.SIGTERM)
        returncode = command.wait(timeout=10)
    finally:
        command.kill()
        command.stdout.close()

    assert lines[0].startswith("reader: ") and "udp:127.0.0.1" in lines[0]
    assert status["card"] is True
    assert returncode == 0


# --- no reader ----------------------------------------------------------------------------------
def usb_reader_attached():
    import nfc

    clf = nfc.ContactlessFrontend()
    try:
        return clf.open("usb")
    except OSError:
        return False
    finally:
        clf.close()


def test_usb_without_a_reader_is_no_reader(tmp_path):
    if usb_reader_attached():
        pytest.skip("a USB reader is attached")
    bridge = ReaderBridge("usb", origins=[ORIGIN]).start()
    try:
        with connect(bridge.url, origin=ORIGIN) as websocket:
            status = ask(websocket, "status")
            refused = authenticate(websocket, PIN)
    finally:
        bridge.stop()

    assert status["reader"] is False and "no contactless reader found" in status["message_en"]
    assert refused["code"] == "no_reader"
    assert "no contactless reader found" in refused["message_en"]


def test_the_command_with_require_reader_exits_when_there_is_none():
    if usb_reader_attached():
        pytest.skip("a USB reader is attached")

    with pytest.raises(CommandError, match="no contactless reader found"):
        call_command("reader_bridge", "--device", "usb", "--require-reader", "--port", "0")


def test_the_command_refuses_an_origin_that_names_no_site():
    with pytest.raises(CommandError, match="not a page origin"):
        call_command("reader_bridge", "--device", "udp:127.0.0.1:54321", "--origin", "null", "--port", "0")


# --- real hardware --------------------------------------------------------------------------------
@pytest.mark.hardware
def test_a_real_reader_and_card(caplog):
    """With a reader on usb: status, and the certificate of a card put on it within 15 seconds.

    Set HOMECONSENT_TEST_CARD_PIN to also authenticate (a wrong value costs one of the card's tries).
    """
    import os

    if not usb_reader_attached():
        pytest.skip("no contactless reader on usb")
    bridge = ReaderBridge("usb", origins=[ORIGIN]).start()
    try:
        with connect(bridge.url, origin=ORIGIN) as websocket:
            status = ask(websocket, "status")
            assert status["reader"] is True
            read = answer(websocket, send(websocket, "read_certificate", timeout=15), timeout=30)[0]
            if read.get("code") == "no_card":
                pytest.skip("no card was put on the reader")
            certificate = x509.load_der_x509_certificate(base64.b64decode(read["certificate"]))
            pin = os.environ.get("HOMECONSENT_TEST_CARD_PIN")
            if pin:
                message = challenge()
                result = authenticate(websocket, pin, message=message)
                certificate.public_key().verify(
                    base64.b64decode(result["signature"]), message, padding.PKCS1v15(), hashes.SHA256()
                )
    finally:
        bridge.stop()
