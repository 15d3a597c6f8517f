# Time of one card authentication through the reader bridge, as a page sees it (WebSocket request to
# final answer), against a virtual card on nfcpy's udp transport:
#   .venv/bin/python bench/reader_bridge.py --rounds 20
# Keys, certificates and the card file are generated in a temporary directory and removed afterwards.
# This measures the bridge, nfcpy and the emulator; a real card adds its own RSA time (~0.5-1 s).
# "polls" counts the reader's discovery polls: one per operation when the card answers the first;
# each missed poll costs the page a whole poll timeout (~1.1 s), which "over 0.5 s" shows.
"""Benchmark: reader bridge authenticate, status and read_certificate round trips."""

import argparse
import base64
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")

ORIGIN = "http://127.0.0.1:8000"
PIN = "5820"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    options = parser.parse_args()

    import django

    django.setup()
    import nfc.clf.udp
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from websockets.sync.client import connect

    from homeconsent.jpki import challenge_message
    from homeconsent.jpki.bridge import ReaderBridge
    from homeconsent.jpki.card import VirtualJPKICard, create_card_file
    from homeconsent.jpki.pki import TestPKI
    from homeconsent.jpki.udp_target import UdpCardTarget

    with tempfile.TemporaryDirectory() as scratch:
        pki = TestPKI(Path(scratch) / "pki").init()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = pki.issue_user_auth_certificate(key.public_key(), datetime.date(1950, 1, 1))
        card_file = create_card_file(
            Path(scratch) / "card.json",
            auth_key=key,
            pin=PIN,
            ca_cert_der=pki.root_certificate_der,
            auth_cert_der=certificate.public_bytes(serialization.Encoding.DER),
        )
        polls = []
        sense_ttb = nfc.clf.udp.Device.sense_ttb
        nfc.clf.udp.Device.sense_ttb = lambda device, target: polls.append(1) or sense_ttb(device, target)
        target = UdpCardTarget(VirtualJPKICard.load(card_file), "127.0.0.1", 0).start()
        bridge = ReaderBridge(target.path, origins=[ORIGIN]).start()
        # The bridge signs only a HomeConsent challenge for the page's origin (protocol 2).
        message = challenge_message.challenge_message(
            nonce=base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode(),
            purpose="consent",
            institution="0110113719",
            items=["qualification"],
            kind="home_visit",
            details={},
            expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10),
            origin=ORIGIN,
        )
        requests = {
            "status": {},
            "read_certificate": {},
            "authenticate": {"challenge_message": base64.b64encode(message).decode(), "pin": PIN},
        }
        try:
            with connect(bridge.url, origin=ORIGIN) as websocket:
                for kind, fields in requests.items():
                    times = []
                    polls.clear()
                    for n in range(options.rounds):
                        started = time.perf_counter()
                        websocket.send(json.dumps({"id": n, "type": kind, **fields}))
                        while (answer := json.loads(websocket.recv()))["type"] == "progress":
                            pass
                        times.append(time.perf_counter() - started)
                        assert answer["type"] == kind, answer
                    if os.environ.get("BENCH_VERBOSE"):
                        print(kind, " ".join(f"{t * 1000:.0f}" for t in times))
                    print(
                        f"{kind:17} median {statistics.median(times) * 1000:7.1f} ms"
                        f"  max {max(times) * 1000:7.1f} ms  over 0.5 s {sum(t > 0.5 for t in times):3}"
                        f"  polls {len(polls):4}  ({options.rounds} rounds)"
                    )
        finally:
            bridge.stop()
            target.stop()


if __name__ == "__main__":
    main()
