# How fast the virtual My Number card answers, at APDU level and through nfcpy's udp transport:
#   .venv/bin/python bench/virtual_card.py --count 50
# Reports the median and 95th percentile of: reading the user-authentication certificate
# (select + 5 READ BINARY), VERIFY (the counter is written to the card file twice), and SIGN.
# Keys and the test PKI are made in a temporary directory.
"""Benchmark: virtual card response times."""

import argparse
import datetime
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")
AID = bytes.fromhex("D392F000260100000001")


def timed(samples, name, fn):
    started = time.perf_counter()
    fn()
    samples.setdefault(name, []).append((time.perf_counter() - started) * 1000)


def report(title, samples):
    print(title)
    for name, values in samples.items():
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(
            f"  {name:<18} median {statistics.median(values):7.2f} ms   p95 {p95:7.2f} ms   n={len(values)}"
        )


def session(transmit, samples):
    def ok(apdu):
        r = transmit(apdu)
        assert r[-2:] == b"\x90\x00", r[-2:].hex()
        return r[:-2]

    def read_certificate():
        ok(b"\x00\xa4\x04\x0c\x0a" + AID)
        ok(b"\x00\xa4\x02\x0c\x02\x00\x0a")
        size = int.from_bytes(ok(b"\x00\xb0\x00\x00\x04")[2:4], "big") + 4
        data = b""
        while len(data) < size:
            n = min(256, size - len(data))
            data += ok(bytes([0, 0xB0, len(data) >> 8, len(data) & 0xFF, n & 0xFF]))

    def verify():
        ok(b"\x00\xa4\x02\x0c\x02\x00\x18")
        ok(b"\x00\x20\x00\x80\x04" + b"1234")

    def sign():
        ok(b"\x00\xa4\x02\x0c\x02\x00\x17")
        di = DIGEST_INFO_SHA256 + hashlib.sha256(b"challenge").digest()
        ok(bytes([0x80, 0x2A, 0x00, 0x80, len(di)]) + di + b"\x00")

    timed(samples, "read certificate", read_certificate)
    timed(samples, "verify PIN", verify)
    timed(samples, "sign", sign)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50)
    options = parser.parse_args()

    import nfc

    from homeconsent.jpki.card import VirtualJPKICard, issue_card_file
    from homeconsent.jpki.pki import TestPKI
    from homeconsent.jpki.udp_target import UdpCardTarget

    with tempfile.TemporaryDirectory() as tmp:
        pki = TestPKI(Path(tmp) / "pki").init()
        path = issue_card_file(pki, Path(tmp) / "card.json", pin="1234", birth_date=datetime.date(1950, 1, 1))
        card = VirtualJPKICard.load(path)

        samples = {}
        for _ in range(options.count):
            session(card.transmit, samples)
        report("APDU level (VirtualJPKICard.transmit)", samples)

        with UdpCardTarget(card, "127.0.0.1", 0) as target:
            clf = nfc.ContactlessFrontend(target.path)
            try:
                tag = clf.connect(
                    rdwr={"targets": ["106B"], "on-connect": lambda tag: False, "beep-on-connect": False}
                )

                def transmit(apdu):
                    return bytes(tag.transceive(bytearray(apdu)))

                samples = {}
                for _ in range(options.count):
                    session(transmit, samples)
                report("nfcpy udp (Type4BTag.transceive, ISO-DEP chaining)", samples)
            finally:
                clf.close()


if __name__ == "__main__":
    main()
