"""The host side of the card path: a contactless reader (nfcpy) and the JPKI application on a card.

`CardReader` owns one nfcpy ContactlessFrontend (`usb` for a real reader, `udp:HOST:PORT` for the
virtual card) and hands out the card on it; `JPKICard` speaks the JPKI application's APDUs
(reference/jpki-card.md): select, read the user-authentication certificate, PIN tries, VERIFY, sign.
nfcpy is blocking and not meant to be shared: both classes are used from one thread at a time
(the bridge's worker thread).

Every failure is a HomeConsentError with one of the codes below, which the bridge passes to the page.
"""

import logging
import threading
import time

import nfc
import nfc.clf
import nfc.tag
import nfc.tag.tt4

from homeconsent.errors import ErrorCode, HomeConsentError

from .apdu import SW, describe_sw, tries_left_from_sw
from .card import FID_AUTH_CA_CERT, FID_AUTH_CERT, FID_AUTH_KEY, FID_AUTH_PIN, JPKI_AID

log = logging.getLogger(__name__)

EF_USER_AUTH_CERTIFICATE = FID_AUTH_CERT.to_bytes(2, "big")
EF_USER_AUTH_CA_CERTIFICATE = FID_AUTH_CA_CERT.to_bytes(2, "big")
EF_USER_AUTH_KEY = FID_AUTH_KEY.to_bytes(2, "big")
EF_USER_AUTH_PIN = FID_AUTH_PIN.to_bytes(2, "big")
READ_CHUNK = 256  # Le 00: what the JPKI readers use; certificates are read in these pieces

NO_READER = ErrorCode(
    "no_reader",
    "カードリーダーが見つかりません（{device}）。リーダーを接続してください。",
    "no contactless reader found on {device}: connect a reader (see docs/readers.md)",
)
NO_CARD = ErrorCode(
    "no_card",
    "カードが見つかりません。マイナンバーカードをリーダーに置いてください。",
    "no card on the reader after {seconds} seconds: place the My Number card on the reader",
)
CARD_REMOVED = ErrorCode(
    "card_removed",
    "読み取り中にカードが離れました。カードを置いたまま、もう一度お試しください。",
    "the card was removed during the operation: keep it on the reader and try again",
)
PIN_INCORRECT = ErrorCode(
    "pin_incorrect",
    "暗証番号が違います。残り{tries_left}回間違えると、暗証番号がロックされます。",
    "incorrect PIN: {tries_left} tries left before the PIN locks",
)
PIN_LOCKED = ErrorCode(
    "pin_locked",
    "暗証番号がロックされています。お住まいの市区町村の窓口でロックを解除してください。",
    "the PIN is locked: it can be reset at the municipal office",
)
NOT_JPKI_CARD = ErrorCode(
    "not_jpki_card",
    "マイナンバーカードではないか、利用者証明用電子証明書が入っていません。",
    "this is not a My Number card with a user-authentication certificate",
)
CARD_ERROR = ErrorCode(
    "card_error",
    "カードの読み取りでエラーが発生しました（{detail}）。もう一度お試しください。",
    "the card reported an error ({detail}): try again",
)
PIN_NOT_SET = ErrorCode(
    "pin_not_set",
    "このカードには利用者証明用の暗証番号が設定されていません（顔認証マイナンバーカード）。"
    "暗証番号での本人確認には使えません。",
    "this card has no user-authentication PIN (a face-recognition-only card): it cannot be used here",
)
CANCELLED = ErrorCode(
    "cancelled",
    "操作が取り消されました。",
    "the operation was cancelled",
)


def quiet_frame_logging():
    """Keep nfcpy below DEBUG: its debug records carry every frame in hex, the VERIFY PIN included."""
    logger = logging.getLogger("nfc")
    if logger.getEffectiveLevel() < logging.INFO:
        logger.setLevel(logging.INFO)


class CardReader:
    """One contactless reader, opened lazily and reopened after it was unplugged."""

    def __init__(self, device: str):
        self.device = device
        self._clf = None
        quiet_frame_logging()

    @property
    def name(self) -> str | None:
        return str(self._clf) if self._clf is not None else None

    def open(self) -> None:
        """Open the reader if it is not open yet; NO_READER if there is none."""
        if self._clf is not None:
            return
        clf = nfc.ContactlessFrontend()
        try:
            found = clf.open(self.device)
        except OSError as error:  # a fully qualified usb path that exists but cannot be opened
            log.warning("cannot open %s: %s", self.device, error.strerror or error)
            found = False
        except ValueError as error:  # a malformed path
            log.warning("cannot open %s: %s", self.device, error)
            found = False
        if not found:
            raise NO_READER(device=self.device)
        self._clf = clf
        log.info("reader %s", self.name)

    def close(self) -> None:
        if self._clf is not None:
            self._clf.close()
            self._clf = None

    def _lost(self) -> HomeConsentError:
        self.close()
        return NO_READER(device=self.device)

    def connect_card(self, timeout: float, cancelled: threading.Event) -> "JPKICard":
        """The card on the reader, waiting for one up to `timeout` seconds (0: look once)."""
        self.open()
        deadline = time.monotonic() + timeout
        while True:
            tag = self._connect_once()
            if tag is not None:
                if not isinstance(tag, nfc.tag.tt4.Type4Tag):
                    self.release()
                    raise NOT_JPKI_CARD()
                return JPKICard(tag, self)
            if cancelled.is_set():
                raise CANCELLED()
            if time.monotonic() >= deadline:
                raise NO_CARD(seconds=f"{timeout:g}")
            time.sleep(0.1)  # a USB reader answers "no card" at once: do not spin on it

    def _connect_once(self):
        """One discovery round for an ISO 14443 Type B card: a tag, or None."""
        rounds = iter([False, True])  # let connect() run exactly one discovery round
        try:
            result = self._clf.connect(
                rdwr={
                    "targets": ["106B"],
                    "iterations": 1,
                    "on-connect": lambda tag: False,  # return the tag, do not wait for its removal
                    "beep-on-connect": False,
                },
                terminate=lambda: next(rounds, True),
            )
        except OSError:
            raise self._lost() from None
        except nfc.clf.CommunicationError:
            return None
        except (IndexError, ValueError):  # a malformed answer to ATTRIB
            return None
        if result is False:  # connect() logs and swallows an I/O error of the reader as False
            raise self._lost()
        return result or None

    def release(self) -> None:
        """Switch the field off after an operation: the card resets and forgets a verified PIN."""
        if self._clf is not None and self._clf.device is not None:
            try:
                with self._clf.lock:
                    self._clf.device.mute()
            except OSError:
                self.close()


class JPKICard:
    """The JPKI application of the card that is on the reader (a nfcpy Type4Tag)."""

    def __init__(self, tag, reader: CardReader):
        self.tag = tag
        self.reader = reader
        # Whether a VERIFY with the PIN went out and whether the card accepted it: a card lifted in
        # between may have counted a try (the counter drops before the PIN is compared).
        self.pin_sent = False
        self.pin_accepted = False

    def transmit(self, cla, ins, p1, p2, data=None, mrl=0) -> tuple[bytes, int]:
        """Send one APDU; (response data, status word). Losing the card is CARD_REMOVED."""
        try:
            response = self.tag.send_apdu(cla, ins, p1, p2, data, mrl=mrl, check_status=False)
        except (nfc.tag.TagCommandError, nfc.clf.CommunicationError):
            raise CARD_REMOVED() from None
        except OSError:
            raise self.reader._lost() from None
        return bytes(response[:-2]), int.from_bytes(response[-2:], "big")

    # --- the application and its files ---------------------------------------------------------
    def select_application(self) -> None:
        _, sw = self.transmit(0x00, 0xA4, 0x04, 0x0C, JPKI_AID)
        if sw != SW.OK:
            raise NOT_JPKI_CARD()

    def select_file(self, fid: bytes) -> None:
        _, sw = self.transmit(0x00, 0xA4, 0x02, 0x0C, fid)
        if sw == SW.FILE_NOT_FOUND:
            raise NOT_JPKI_CARD()
        if sw != SW.OK:
            raise CARD_ERROR(detail=f"select {fid.hex().upper()}: {describe_sw(sw)}")

    def read_binary(self, offset: int, length: int) -> bytes:
        data, sw = self.transmit(0x00, 0xB0, offset >> 8 & 0x7F, offset & 0xFF, mrl=length)
        if sw != SW.OK:
            raise CARD_ERROR(detail=f"read binary at {offset}: {describe_sw(sw)}")
        return data

    def read_certificate(self, fid: bytes = EF_USER_AUTH_CERTIFICATE) -> bytes:
        """A DER certificate, sized from its first 4 bytes (30 82 LL LL) and read in chunks."""
        self.select_file(fid)
        head = self.read_binary(0, 4)
        if len(head) < 4 or head[0] != 0x30 or head[1] != 0x82:
            # An unissued or erased certificate file reads as padding.
            raise NOT_JPKI_CARD()
        size = 4 + int.from_bytes(head[2:4], "big")
        certificate = bytearray(head)
        while len(certificate) < size:
            chunk = self.read_binary(len(certificate), min(READ_CHUNK, size - len(certificate)))
            if not chunk:
                raise CARD_ERROR(detail=f"certificate ends at {len(certificate)} of {size} bytes")
            certificate += chunk
        return bytes(certificate[:size])

    # --- PIN and signature ---------------------------------------------------------------------
    def tries_left(self) -> int:
        """Remaining PIN tries: VERIFY without data answers 63Cx."""
        self.select_file(EF_USER_AUTH_PIN)
        _, sw = self.transmit(0x00, 0x20, 0x00, 0x80)
        tries = tries_left_from_sw(sw)
        if tries is not None:
            return tries
        if sw in (SW.AUTH_METHOD_BLOCKED, SW.REFERENCE_DATA_UNUSABLE):
            return 0
        if sw == SW.REFERENCE_NOT_FOUND:
            raise PIN_NOT_SET()
        raise CARD_ERROR(detail=f"PIN status: {describe_sw(sw)}")

    def verify_pin(self, pin: bytearray) -> None:
        """VERIFY with the PIN; the caller wipes `pin` afterwards."""
        self.select_file(EF_USER_AUTH_PIN)
        self.pin_sent = True
        _, sw = self.transmit(0x00, 0x20, 0x00, 0x80, pin)
        if sw == SW.OK:
            self.pin_accepted = True
            return
        tries = tries_left_from_sw(sw)
        if tries:
            raise PIN_INCORRECT(tries_left=tries)
        if tries == 0 or sw in (SW.AUTH_METHOD_BLOCKED, SW.REFERENCE_DATA_UNUSABLE):
            raise PIN_LOCKED(tries_left=0)
        if sw == SW.REFERENCE_NOT_FOUND:
            raise PIN_NOT_SET()
        raise CARD_ERROR(detail=f"verify: {describe_sw(sw)}")

    def sign(self, digest_info: bytes) -> bytes:
        """The card pads the DigestInfo (PKCS#1 v1.5) and signs it with the user-authentication key."""
        self.select_file(EF_USER_AUTH_KEY)
        signature, sw = self.transmit(0x80, 0x2A, 0x00, 0x80, digest_info, mrl=256)
        if sw != SW.OK or not signature:
            raise CARD_ERROR(detail=f"sign: {describe_sw(sw)}")
        return signature

    def authenticate(self, digest_info: bytes, pin: bytearray, progress) -> dict:
        """Certificate, tries check, VERIFY, sign: what proves the card and its PIN to the server."""
        self.select_application()
        progress("reading")
        certificate = self.read_certificate(EF_USER_AUTH_CERTIFICATE)
        if self.tries_left() == 0:
            raise PIN_LOCKED(tries_left=0)  # never spend a VERIFY on a locked PIN
        progress("verifying_pin")
        self.verify_pin(pin)
        progress("signing")
        signature = self.sign(digest_info)
        return {"signature": signature, "certificate": certificate, "tries_left": self.tries_left()}
