"""A virtual JPKI card answering a challenge the way the reader bridge drives a real one."""

from homeconsent.jpki.card import JPKI_AID


def card_answer(card, digest_info: bytes, pin: str) -> tuple[bytes, bytes]:
    """The bridge's raw APDUs: select JPKI, read the certificate (EF 000A), VERIFY, select 0017, sign."""

    def send(head_hex, data=b"", le=None):
        apdu = bytes.fromhex(head_hex) + (bytes([len(data)]) + data if data else b"")
        apdu += bytes([le]) if le is not None else b""
        response = card.transmit(apdu)
        if response[-2:] != b"\x90\x00":
            raise AssertionError(f"{head_hex}: SW {response[-2:].hex()}")
        return response[:-2]

    send("00A4040C", JPKI_AID)
    send("00A4020C", bytes.fromhex("000A"))
    size = 4 + int.from_bytes(send("00B00000", le=4)[2:4], "big")
    certificate = b""
    while len(certificate) < size:
        certificate += send(f"00B0{len(certificate):04X}", le=min(256, size - len(certificate)) % 256)
    send("00A4020C", bytes.fromhex("0018"))
    send("00200080", pin.encode())
    send("00A4020C", bytes.fromhex("0017"))
    return certificate, send("802A0080", digest_info, le=0)
