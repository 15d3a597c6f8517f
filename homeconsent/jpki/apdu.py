"""ISO 7816-4 APDUs, short form only (the JPKI application uses no extended length).

A command APDU is one of four cases:

    case 1: CLA INS P1 P2
    case 2: CLA INS P1 P2 Le            (Le 00 means 256)
    case 3: CLA INS P1 P2 Lc data
    case 4: CLA INS P1 P2 Lc data Le

A response APDU is the response data followed by the two status bytes SW1 SW2.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ApduError(ValueError):
    """The bytes are not a well-formed short command APDU (answered with 6700)."""


class SW(IntEnum):
    """Status words the virtual card answers with, and readers look for."""

    OK = 0x9000
    END_OF_FILE = 0x6282  # fewer bytes than Le before the end of the file
    MEMORY_FAILURE = 0x6581  # the card could not persist its state; nothing changed
    WRONG_LENGTH = 0x6700
    FILE_INCOMPATIBLE = 0x6981  # command incompatible with the file structure
    SECURITY_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_UNUSABLE = 0x6984  # the PIN is locked
    CONDITIONS_NOT_SATISFIED = 0x6985
    NO_CURRENT_EF = 0x6986
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    WRONG_P1P2 = 0x6A86
    REFERENCE_NOT_FOUND = 0x6A88  # e.g. a card with no PIN set (face recognition only)
    WRONG_OFFSET = 0x6B00  # READ BINARY offset past the end of the file
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    UNKNOWN_ERROR = 0x6F00

    @classmethod
    def tries_left(cls, n: int) -> int:
        """63Cx: verification failed or queried, x tries left (0-15)."""
        if not 0 <= n <= 15:
            raise ValueError("tries left must be 0..15")
        return 0x63C0 | n


def tries_left_from_sw(sw: int) -> int | None:
    """x of a 63Cx status word, else None."""
    return sw & 0x0F if sw & 0xFFF0 == 0x63C0 else None


def describe_sw(sw: int) -> str:
    """A short English name for a status word, for logs and test messages."""
    n = tries_left_from_sw(sw)
    if n is not None:
        return f"{sw:04X} (tries left: {n})"
    try:
        return f"{sw:04X} ({SW(sw).name})"
    except ValueError:
        return f"{sw:04X}"


@dataclass(frozen=True)
class CommandAPDU:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # expected response length: None = absent, 1..256

    def __post_init__(self):
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ApduError(f"{name} out of range")
        if len(self.data) > 255:
            raise ApduError("command data longer than 255 bytes needs extended length")
        if self.le is not None and not 1 <= self.le <= 256:
            raise ApduError("Le must be 1..256")

    @property
    def case(self) -> int:
        if self.data:
            return 3 if self.le is None else 4
        return 1 if self.le is None else 2

    @classmethod
    def parse(cls, raw: bytes) -> CommandAPDU:
        raw = bytes(raw)
        if len(raw) < 4:
            raise ApduError("a command APDU has at least 4 bytes")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise ApduError("extended length APDUs are not supported")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, data=body[1:])
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, data=body[1:-1], le=body[-1] or 256)
        raise ApduError("Lc does not match the command length")

    def to_bytes(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])  # 256 is sent as 00
        return out

    __bytes__ = to_bytes


@dataclass(frozen=True)
class ResponseAPDU:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == SW.OK

    @classmethod
    def parse(cls, raw: bytes) -> ResponseAPDU:
        raw = bytes(raw)
        if len(raw) < 2:
            raise ApduError("a response APDU ends with two status bytes")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    def to_bytes(self) -> bytes:
        return bytes(self.data) + self.sw.to_bytes(2, "big")

    __bytes__ = to_bytes

    def __str__(self) -> str:
        return f"{len(self.data)} bytes, SW {describe_sw(self.sw)}"


def status(sw: int, data: bytes = b"") -> bytes:
    """Encode a response: data then SW1 SW2."""
    return bytes(data) + int(sw).to_bytes(2, "big")
