"""A virtual My Number card: the JPKI application at APDU level.

What it implements (see the project's reference notes on the JPKI card):

* SELECT the JPKI application by AID (``00 A4 04 0C 0A D392F000260100000001``) and files inside
  it by identifier (``00 A4 02 0C 02 <fid>``): token EF 0006, user-authentication certificate
  EF 000A, its CA certificate EF 000B, the user-authentication key EF 0017 and PIN EF 0018.
  Of the signature-certificate side only the password EF 001B exists (6-16 upper-case letters
  and digits, 5 tries), because readers such as OpenSC query both PINs; its certificates and key
  (0001/0002/001A) are not on these virtual cards and answer 6A82 like any unknown file.
* READ BINARY of the token and certificates, no PIN needed; Le 00 means 256; a read that runs
  past the end returns the bytes that remain; an offset at or past the end answers 6B00.
* PIN (EF 0018 selected): ``00 20 00 80`` without data answers 63Cx (x tries left), also after a
  successful VERIFY; VERIFY with 4 ASCII digits; 3 tries; a correct PIN resets the counter; a
  wrong one answers 63Cx; at 0 the PIN is locked and VERIFY answers 6984. CHANGE REFERENCE DATA
  ``00 24 01 80 <new PIN>`` after VERIFY. PIN commands with no EF selected answer 6986, with
  another EF selected 6981 (real cards, and every reader we know of, select 0018 first).
* Sign (EF 0017 selected and the PIN verified): ``80 2A 00 80 <Lc> <DigestInfo> 00``; the card
  pads with PKCS#1 v1.5 type 1 and signs with its RSA-2048 key. Otherwise 6982.
* Probes for other card types: foreign AIDs and unknown files 6A82, unknown instructions 6D00,
  unknown classes 6E00, malformed APDUs 6700.
* A card without a PIN (face-recognition-only card) answers every PIN operation with 6A88
  (referenced data not found), so it can never sign.

The PIN state (application selected, current file, PIN verified) is cleared by selecting the
application again and by a reset. The persistent state (key, certificates, PIN, retry counter)
lives in a JSON card file, rewritten atomically (temp file + os.replace, mode 0600) before an
answer is returned, so a locked card stays locked across restarts. The counter is lowered
*before* the PIN is compared and restored after a match, so pulling the power mid-VERIFY never
yields a free try.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .apdu import SW, ApduError, CommandAPDU, status

JPKI_AID = bytes.fromhex("D392F000260100000001")
ATR = bytes.fromhex("3BE000FF8131FE4514")  # JPKI contact ATR (OpenSC matches its jpki driver on it)

FID_TOKEN = 0x0006
FID_AUTH_CERT = 0x000A
FID_AUTH_CA_CERT = 0x000B
FID_AUTH_KEY = 0x0017
FID_AUTH_PIN = 0x0018
FID_SIGN_PIN = 0x001B

TOKEN = b"JPKIAPICCTOKEN2".ljust(32, b" ")
AUTH_PIN_TRIES = 3
SIGN_PIN_TRIES = 5
RSA_BITS = 2048

CARD_FILE_FORMAT = "homeconsent-virtual-jpki-card/1"
# A 4-digit PIN cannot be protected by a hash; hashing only keeps it out of plain sight.
_PIN_KDF_ITERATIONS = 10_000


class CardFileError(Exception):
    """The card file is missing, unreadable or not a virtual JPKI card."""


def _hash_pin(pin: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", pin.encode("ascii"), salt, iterations)


def _pin_record(pin: str) -> dict:
    salt = secrets.token_bytes(16)
    return {
        "kdf": "pbkdf2-sha256",
        "iterations": _PIN_KDF_ITERATIONS,
        "salt": salt.hex(),
        "hash": _hash_pin(pin, salt, _PIN_KDF_ITERATIONS).hex(),
    }


def valid_pin(pin) -> bool:
    """The user-authentication PIN: exactly 4 ASCII digits."""
    return isinstance(pin, str) and len(pin) == 4 and pin.isascii() and pin.isdigit()


def valid_sign_password(password) -> bool:
    """The signature password: 6 to 16 upper-case ASCII letters and digits."""
    return (
        isinstance(password, str)
        and 6 <= len(password) <= 16
        and password.isascii()
        and all(c.isdigit() or c.isupper() for c in password)
    )


@dataclass(frozen=True)
class _PinKind:
    record: str  # key of the hashed PIN in the card file
    counter: str  # key of its tries-left counter
    tries: int
    valid: object  # the rule for a new value


_PINS = {
    FID_AUTH_PIN: _PinKind("pin", "pin_tries_left", AUTH_PIN_TRIES, valid_pin),
    FID_SIGN_PIN: _PinKind("sign_pin", "sign_pin_tries_left", SIGN_PIN_TRIES, valid_sign_password),
}


def _write_private_json(path: Path, document: dict) -> None:
    """Atomically replace *path* with *document*, readable by the owner only."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def create_card_file(
    path,
    *,
    auth_key,
    auth_cert_der: bytes,
    ca_cert_der: bytes,
    pin: str | None,
    label: str = "",
    pin_tries_left: int = AUTH_PIN_TRIES,
    sign_password: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a new virtual card file and return its path.

    *auth_key* is the user-authentication RSA-2048 private key (a cryptography key object or PEM
    bytes); it must match the public key of *auth_cert_der*. *pin* is 4 digits, or None for a
    face-recognition-only card without a PIN. *sign_password* sets the signature password
    (EF 001B); by default it is random and never shown, as this project does not sign with it.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    if isinstance(auth_key, (bytes, str)):
        auth_key = serialization.load_pem_private_key(
            auth_key.encode() if isinstance(auth_key, str) else auth_key, password=None
        )
    if not isinstance(auth_key, rsa.RSAPrivateKey) or auth_key.key_size != RSA_BITS:
        raise ValueError("the user-authentication key must be RSA-2048")
    cert = x509.load_der_x509_certificate(bytes(auth_cert_der))
    x509.load_der_x509_certificate(bytes(ca_cert_der))
    if cert.public_key().public_numbers() != auth_key.public_key().public_numbers():
        raise ValueError("the certificate does not belong to the key")
    if pin is not None and not valid_pin(pin):
        raise ValueError("the PIN must be 4 digits")
    if not 0 <= pin_tries_left <= AUTH_PIN_TRIES:
        raise ValueError("tries left must be 0..3")
    if sign_password is None:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        sign_password = "".join(secrets.choice(alphabet) for _ in range(16))
    if not valid_sign_password(sign_password):
        raise ValueError("the signature password is 6-16 upper-case letters and digits")
    document = {
        "format": CARD_FILE_FORMAT,
        "label": label,
        "auth_key_pem": auth_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        "auth_cert": base64.b64encode(bytes(auth_cert_der)).decode("ascii"),
        "ca_cert": base64.b64encode(bytes(ca_cert_der)).decode("ascii"),
        "pin": _pin_record(pin) if pin is not None else None,
        "pin_tries_max": AUTH_PIN_TRIES,
        "pin_tries_left": pin_tries_left,
        "sign_pin": _pin_record(sign_password),
        "sign_pin_tries_left": SIGN_PIN_TRIES,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private_json(path, document)
    return path


@dataclass
class _Session:
    """Volatile card state: lost on reset and when the application is selected again."""

    app_selected: bool = False
    current_ef: int | None = None
    verified: frozenset = frozenset()  # PIN EFs verified since the application was selected

    @property
    def pin_verified(self) -> bool:
        return FID_AUTH_PIN in self.verified


class VirtualJPKICard:
    """The JPKI application of one virtual card, driven by raw APDUs.

    ``card = VirtualJPKICard.load(path)``; ``card.transmit(bytes.fromhex("00A4040C0A..."))``
    returns the response APDU (data + SW1 SW2). Thread-safe: one APDU at a time.
    """

    atr = ATR

    def __init__(self, path: Path, document: dict):
        self.path = Path(path)
        self._doc = document
        self._key = serialization.load_pem_private_key(
            document["auth_key_pem"].encode("ascii"), password=None
        )
        self._files = {
            FID_TOKEN: TOKEN,
            FID_AUTH_CERT: base64.b64decode(document["auth_cert"]),
            FID_AUTH_CA_CERT: base64.b64decode(document["ca_cert"]),
        }
        self._lock = threading.RLock()
        self._session = _Session()

    # --- the card file ----------------------------------------------------------------------
    @classmethod
    def load(cls, path) -> VirtualJPKICard:
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CardFileError(f"cannot read card file {path.name}: {exc}") from exc
        if not isinstance(document, dict) or document.get("format") != CARD_FILE_FORMAT:
            raise CardFileError(f"{path.name} is not a virtual JPKI card file")
        try:
            return cls(path, document)
        except (KeyError, ValueError, TypeError) as exc:
            raise CardFileError(f"{path.name} is damaged: {exc}") from exc

    def _commit(self, **changes) -> None:
        """Write *changes* to the card file; only once written do they take effect."""
        document = {**self._doc, **changes}
        _write_private_json(self.path, document)
        self._doc = document

    # --- what a test or demo may look at ----------------------------------------------------
    @property
    def label(self) -> str:
        return self._doc.get("label", "")

    @property
    def has_pin(self) -> bool:
        return self._doc.get("pin") is not None

    @property
    def tries_left(self) -> int:
        return int(self._doc["pin_tries_left"])

    @property
    def locked(self) -> bool:
        return self.has_pin and self.tries_left == 0

    @property
    def auth_cert_der(self) -> bytes:
        return self._files[FID_AUTH_CERT]

    @property
    def ca_cert_der(self) -> bytes:
        return self._files[FID_AUTH_CA_CERT]

    # --- the card ---------------------------------------------------------------------------
    def reset(self) -> bytes:
        """Power cycle: forget the selection and the PIN state. Returns the ATR."""
        with self._lock:
            self._session = _Session()
        return self.atr

    def transmit(self, capdu: bytes) -> bytes:
        """Process one command APDU and return the response APDU."""
        with self._lock:
            try:
                cmd = CommandAPDU.parse(capdu)
            except ApduError:
                return status(SW.WRONG_LENGTH)
            try:
                return self._dispatch(cmd)
            except OSError:
                # The card could not write its state: it refuses rather than answer unrecorded.
                return status(SW.MEMORY_FAILURE)

    def _dispatch(self, cmd: CommandAPDU) -> bytes:
        handlers = {
            (0x00, 0xA4): self._select,
            (0x00, 0xB0): self._read_binary,
            (0x00, 0x20): self._verify,
            (0x00, 0x24): self._change_pin,
            (0x80, 0x2A): self._sign,
        }
        handler = handlers.get((cmd.cla, cmd.ins))
        if handler is not None:
            return handler(cmd)
        if any(ins == cmd.ins for _, ins in handlers) or cmd.cla not in (0x00, 0x80):
            return status(SW.CLA_NOT_SUPPORTED)
        return status(SW.INS_NOT_SUPPORTED)

    # SELECT ---------------------------------------------------------------------------------
    def _select(self, cmd: CommandAPDU) -> bytes:
        if cmd.p2 not in (0x00, 0x0C):
            return status(SW.WRONG_P1P2)
        if cmd.p1 == 0x04:  # by DF name (AID)
            if cmd.data != JPKI_AID:
                return status(SW.FILE_NOT_FOUND)  # a probe for another card type
            self._session = _Session(app_selected=True)
            return status(SW.OK)
        if cmd.p1 == 0x02:  # EF under the current DF
            if len(cmd.data) != 2:
                return status(SW.WRONG_LENGTH)
            fid = int.from_bytes(cmd.data, "big")
            known = (
                set(self._files)
                | {FID_AUTH_KEY}
                | {fid for fid, kind in _PINS.items() if kind.counter in self._doc}
            )
            if not self._session.app_selected or fid not in known:
                return status(SW.FILE_NOT_FOUND)
            self._session.current_ef = fid
            return status(SW.OK)
        if cmd.p1 in (0x00, 0x01, 0x08, 0x09):  # MF / paths: nothing outside the application
            return status(SW.FILE_NOT_FOUND)
        return status(SW.WRONG_P1P2)

    # READ BINARY ----------------------------------------------------------------------------
    def _read_binary(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 & 0x80:  # short EF identifier addressing: not offered
            return status(SW.WRONG_P1P2)
        if cmd.data or cmd.le is None:
            return status(SW.WRONG_LENGTH)
        ef = self._session.current_ef
        if ef is None:
            return status(SW.NO_CURRENT_EF)
        if ef not in self._files:
            return status(SW.SECURITY_NOT_SATISFIED if ef == FID_AUTH_KEY else SW.FILE_INCOMPATIBLE)
        content = self._files[ef]
        offset = (cmd.p1 << 8) | cmd.p2
        if offset >= len(content):
            return status(SW.WRONG_OFFSET)
        return status(SW.OK, content[offset : offset + cmd.le])

    # PIN ------------------------------------------------------------------------------------
    def _selected_pin(self) -> tuple[_PinKind | None, bytes | None]:
        """The PIN of the current EF, or the answer when a PIN command cannot proceed."""
        ef = self._session.current_ef
        if ef is None:
            return None, status(SW.NO_CURRENT_EF)
        if ef not in _PINS:
            return None, status(SW.FILE_INCOMPATIBLE)
        kind = _PINS[ef]
        if self._doc.get(kind.record) is None:
            return None, status(SW.REFERENCE_NOT_FOUND)  # e.g. a face-recognition-only card
        return kind, None

    def _pin_matches(self, kind: _PinKind, candidate: bytes) -> bool:
        record = self._doc[kind.record]
        try:
            text = candidate.decode("ascii")
        except UnicodeDecodeError:
            return False
        given = _hash_pin(text, bytes.fromhex(record["salt"]), int(record["iterations"]))
        return hmac.compare_digest(given, bytes.fromhex(record["hash"]))

    def _verify(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 != 0x00 or cmd.p2 != 0x80:
            return status(SW.WRONG_P1P2)
        kind, refusal = self._selected_pin()
        if refusal:
            return refusal
        ef = self._session.current_ef
        tries = int(self._doc[kind.counter])
        if not cmd.data:  # the tries-left query
            return status(SW.tries_left(tries))
        self._session.verified = self._session.verified - {ef}
        if tries == 0:
            return status(SW.REFERENCE_DATA_UNUSABLE)
        # Lower the counter on the card first, then compare (no free try on power loss).
        self._commit(**{kind.counter: tries - 1})
        if self._pin_matches(kind, cmd.data):
            self._commit(**{kind.counter: kind.tries})
            self._session.verified = self._session.verified | {ef}
            return status(SW.OK)
        return status(SW.tries_left(tries - 1))

    def _change_pin(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 != 0x01 or cmd.p2 != 0x80:  # only "new reference data after VERIFY"
            return status(SW.WRONG_P1P2)
        kind, refusal = self._selected_pin()
        if refusal:
            return refusal
        if int(self._doc[kind.counter]) == 0:
            return status(SW.REFERENCE_DATA_UNUSABLE)
        if self._session.current_ef not in self._session.verified:
            return status(SW.SECURITY_NOT_SATISFIED)
        try:
            new_pin = cmd.data.decode("ascii")
        except UnicodeDecodeError:
            return status(SW.WRONG_DATA)
        if not kind.valid(new_pin):
            return status(SW.WRONG_DATA)
        self._commit(**{kind.record: _pin_record(new_pin), kind.counter: kind.tries})
        return status(SW.OK)

    # SIGN -----------------------------------------------------------------------------------
    def _sign(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 != 0x00 or cmd.p2 != 0x80:
            return status(SW.WRONG_P1P2)
        if self._session.current_ef != FID_AUTH_KEY or not self._session.pin_verified:
            return status(SW.SECURITY_NOT_SATISFIED)
        k = RSA_BITS // 8
        if not cmd.data or len(cmd.data) > k - 11 or cmd.le is None:
            return status(SW.WRONG_LENGTH)
        return status(SW.OK, self._pkcs1_type1_sign(cmd.data))

    def _pkcs1_type1_sign(self, digest_info: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 over a DigestInfo the host built: EM = 00 01 FF.. 00 T, s = EM^d."""
        k = RSA_BITS // 8
        em = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
        priv = self._key.private_numbers()
        m = int.from_bytes(em, "big")
        # CRT: two half-size exponentiations.
        s1 = pow(m, priv.dmp1, priv.p)
        s2 = pow(m, priv.dmq1, priv.q)
        h = (priv.iqmp * (s1 - s2)) % priv.p
        s = s2 + h * priv.q
        return s.to_bytes(k, "big")


def issue_card_file(pki, path, *, pin: str | None, birth_date, label: str = "", **card_options) -> Path:
    """Make a new virtual card issued by the test PKI (*pki*: a ``pki.TestPKI``): a fresh RSA-2048
    key, a user-authentication certificate for it, the root as EF 000B. Returns the card file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    certificate = pki.issue_user_auth_certificate(key.public_key(), birth_date)
    return create_card_file(
        path,
        auth_key=key,
        auth_cert_der=certificate.public_bytes(serialization.Encoding.DER),
        ca_cert_der=pki.root_certificate_der,
        pin=pin,
        label=label,
        **card_options,
    )
