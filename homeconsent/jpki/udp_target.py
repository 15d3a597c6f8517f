"""Present a virtual My Number card as an ISO 14443 Type 4B target on nfcpy's ``udp`` transport.

A reader opened with ``nfc.ContactlessFrontend("udp:127.0.0.1:PORT")`` and
``connect(rdwr={"targets": ["106B"]})`` (or ``sense(RemoteTarget("106B"))`` +
``nfc.tag.activate``) finds a ``Type4BTag`` and talks to the card with ``send_apdu`` exactly as it
would to a card on an RC-S380: the same nfcpy code path, only the radio is a UDP socket.

Usage::

    card = VirtualJPKICard.load(path)
    target = UdpCardTarget(card, "127.0.0.1", 0).start()   # port 0: pick a free port
    reader_path = f"udp:127.0.0.1:{target.port}"
    ...
    target.remove()     # pull the card: from now on the target answers nothing (the reader times
                        # out, as with a card taken off a real reader); the card's PIN state is lost
    target.insert()     # put it back: the target listens again and can be activated anew
    target.stop()       # end the thread and close the socket (also: ``with UdpCardTarget(...)``)

``python manage.py serve_card CARD_FILE --udp HOST:PORT`` runs one in the foreground (SIGUSR1
pulls the card, SIGUSR2 puts it back, SIGTERM/SIGINT stop it).

How it works: the card side of nfcpy's udp driver (``clf.listen`` with a ``LocalTarget("106B")``
carrying a 12-byte SENSB_RES) answers SENSB_REQ; this module answers ATTRIB and then loops on
``clf.exchange`` handling ISO-DEP (ISO/IEC 14443-4) blocks itself, since nfcpy ships no Type 4
card emulation: I-blocks with chaining in both directions, R(ACK)/R(NAK) per the PICC rules
(retransmit the last block when the block number matches; else ACK a NAK, continue a chain on
an ACK), S(DESELECT), after which the card is idle and listens again, and S(WTX) requests when
a command runs long. CID and NAD are not offered. Unlike nfcpy's own card side, which binds 0.0.0.0, the socket is bound to *host* only.

The card keeps one socket from start to stop (or removal). nfcpy's ``listen()`` mutes the device
first, and its udp device closes and reopens the socket there: a poll already queued behind the
reader's RFOFF, or arriving in that gap, was dropped, and the reader waited a whole poll timeout
(~1.1 s) to find the card again.
"""

from __future__ import annotations

import errno
import logging
import platform
import secrets
import threading
import time

import nfc
import nfc.clf
import nfc.clf.udp

from .reader import quiet_frame_logging

log = logging.getLogger(__name__)

# Frame waiting time integer announced in SENSB_RES: FWT = 302 µs * 2**FWI. 12 gives ~1.24 s;
# nfcpy then retries once, so a pulled card is noticed after ~2.5 s. A command still running after
# a third of the FWT (a busy machine) makes the card ask for more time with S(WTX) rather than
# answer late: a late answer would cross the reader's R(NAK) and desynchronise the block numbers.
# (11, ~0.62 s, left the S(WTX) thread too little slack on a loaded machine with debug logging on.)
DEFAULT_FWI = 12
_WTXM = 4  # each S(WTX) asks for 4 x FWT
_FSC_TABLE = (16, 24, 32, 40, 48, 64, 96, 128, 256)
_FSCI = 8  # we accept frames of 256 bytes
_SLICE = 0.2  # how often the loop looks at stop/remove while waiting for a frame


class _LinkLost(Exception):
    """The reader stopped answering while the card asked it to wait."""


class _CardSideUdpDevice(nfc.clf.udp.Device):
    """nfcpy's udp device, bound to the given host only (and port 0 resolved once)."""

    def __init__(self, host, port, on_bound):
        super().__init__(host, port)
        self._on_bound = on_bound
        self._vendor_name = platform.uname()[0]
        self._device_name = "IP-Stack"
        self._chipset_name = "UDP"
        self._path = f"udp:{self.addr[0]}:{self.addr[1]}"

    def mute(self):
        """nfcpy calls this before every listen(): the socket (and any poll queued on it) stays."""

    def power_off(self):
        """Close the socket: from now on nothing answers (the card is off the reader)."""
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def close(self):
        self.power_off()

    def _bind_socket(self, time_to_return):
        if self.socket.getsockname()[1] != 0:
            return True  # bound by an earlier listen()
        try:
            self.socket.bind(self.addr)
        except OSError as error:
            self._on_bound(error)
            if error.errno == errno.EADDRINUSE:
                # Someone took the port while the card was off the reader: retry, gently.
                log.warning("udp card target: %s:%d is in use", *self.addr)
                time.sleep(0.5)
                return False
            raise
        if self.addr[1] == 0:
            self.addr = (self.addr[0], self.socket.getsockname()[1])
        self._on_bound(None)
        return True


class _IsoDepCard:
    """ISO-DEP (14443-4) PICC side for one activation: blocks in, blocks out."""

    def __init__(self, transmit, fsd: int):
        self.transmit = transmit  # APDU in, response APDU out
        self.max_inf = fsd - 3  # PCB + 2 CRC bytes, as nfcpy counts them
        self.block = 1  # Rule D: the PICC block number starts at 1
        self.last_block: bytes | None = None
        self.rx_chain = b""
        self.tx_rest = b""
        self.deselected = False

    def handle(self, frame: bytes) -> bytes | None:
        """The block to answer with, or None to stay silent (invalid or unsupported block)."""
        pcb = frame[0]
        if pcb & 0xE2 == 0x02:  # I-block
            if pcb & 0x0C:
                return None  # CID / NAD not offered
            return self._i_block(pcb, frame[1:])
        if pcb & 0xE6 == 0xA2:  # R-block
            if pcb & 0x08:
                return None
            return self._r_block(pcb)
        if pcb & 0xF7 == 0xC2 and len(frame) == 1:  # S(DESELECT)
            self.deselected = True
            return b"\xc2"
        return None  # S(WTX) answers (we never ask for one) and anything else

    def _send(self, block: bytes) -> bytes:
        self.last_block = block
        return block

    def _i_block(self, pcb: int, inf: bytes) -> bytes:
        self.block = pcb & 1  # Rule E: toggle on an I-block (it carries the number we answer with)
        self.tx_rest = b""  # the reader moved on: any unfinished response chain is dropped
        if pcb & 0x10:  # the reader chains its command: acknowledge this part
            self.rx_chain += inf
            return self._send(bytes([0xA2 | self.block]))
        command, self.rx_chain = self.rx_chain + inf, b""
        response = self.transmit(command)
        return self._send(self._next_i_block(response))

    def _next_i_block(self, data: bytes) -> bytes:
        head, self.tx_rest = data[: self.max_inf], data[self.max_inf :]
        pcb = (0x12 if self.tx_rest else 0x02) | self.block
        return bytes([pcb]) + head

    def _r_block(self, pcb: int) -> bytes | None:
        number, nak = pcb & 1, bool(pcb & 0x10)
        if number == self.block:  # Rule 11: the reader missed our last block
            return self.last_block
        if nak:  # Rule 12 (also nfcpy's presence check)
            return bytes([0xA2 | self.block])
        if self.tx_rest:  # Rule 13: ACK of our chained block, send the next part
            self.block = number
            return self._send(self._next_i_block(self.tx_rest))
        return None


class UdpCardTarget:
    """One virtual card lying on a virtual reader: a thread serving *card* on udp *host*:*port*."""

    def __init__(
        self,
        card,
        host: str = "127.0.0.1",
        port: int = 54321,
        *,
        fwi: int = DEFAULT_FWI,
        pupi: bytes | None = None,
    ):
        if not 0 <= fwi <= 14:
            raise ValueError("FWI is 0..14")
        self.card = card
        self.host = host
        self.port = port
        self.pupi = pupi or secrets.token_bytes(4)
        if len(self.pupi) != 4:
            raise ValueError("PUPI is 4 bytes")
        # SENSB_RES: 50, PUPI, application data (none), protocol info: 106 kbps only;
        # FSCI 8 (256) + ISO 14443-4 compliant; FWI, no ADC, neither NAD nor CID.
        self.fwt = 4096 / 13.56e6 * 2**fwi
        self.sensb_res = (
            b"\x50" + self.pupi + b"\x00\x00\x00\x00" + bytes([0x00, (_FSCI << 4) | 0x01, fwi << 4])
        )
        self._stopping = threading.Event()
        self._present = threading.Event()
        self._present.set()
        self._silent = threading.Event()  # set by the thread once a removal has taken effect
        self._bound = threading.Event()
        self._bind_error: OSError | None = None
        self._thread: threading.Thread | None = None
        self._clf = None
        self.activations = 0  # how many times a reader activated the card (ATTRIB)
        quiet_frame_logging()  # nfcpy's debug records carry every frame, the VERIFY PIN included

    # --- control ------------------------------------------------------------------------------
    def start(self, timeout: float = 5.0) -> UdpCardTarget:
        """Start serving; returns once the socket is bound (raises OSError if it cannot be)."""
        device = _CardSideUdpDevice(self.host, self.port, self._bound_callback)
        self._clf = nfc.ContactlessFrontend()
        self._clf.device = device
        self._thread = threading.Thread(target=self._run, name=f"udp-card-{self.port}", daemon=True)
        self._thread.start()
        if not self._bound.wait(timeout):
            self.stop()
            raise TimeoutError("the udp card target did not start")
        if self._bind_error is not None:
            error = self._bind_error
            self.stop()
            raise error
        self.port = device.addr[1]
        log.info("virtual card on udp:%s:%d", self.host, self.port)
        return self

    def _bound_callback(self, error):
        if not self._bound.is_set():
            self._bind_error = error
            self._bound.set()

    @property
    def path(self) -> str:
        """The nfcpy reader path that reaches this card."""
        return f"udp:{self.host}:{self.port}"

    @property
    def present(self) -> bool:
        return self._present.is_set()

    def remove(self, timeout: float = 3.0) -> None:
        """Take the card off the reader mid-whatever: no further answer leaves the target."""
        self._silent.clear()
        self._present.clear()
        if self._thread and self._thread.is_alive() and not self._silent.wait(timeout):
            raise TimeoutError("the udp card target did not go silent")

    def insert(self) -> None:
        """Put the card (back) on the reader."""
        self._present.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._present.set()  # wake a removed target so it can exit
        if self._thread is not None:
            self._thread.join(timeout)
        if self._clf is not None:
            self._clf.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- the thread ---------------------------------------------------------------------------
    def _run(self):
        listen_as = nfc.clf.LocalTarget("106B", sensb_res=bytearray(self.sensb_res))
        try:
            while not self._stopping.is_set():
                if not self._present.is_set():
                    self._go_silent()
                    self._present.wait()
                    continue
                try:
                    activated = self._clf.listen(listen_as, 0.25)
                except nfc.clf.CommunicationError:
                    continue
                except OSError as error:
                    if self._bind_error is None and not self._bound.is_set():
                        self._bound_callback(error)
                    log.error("udp card target: %s", error)
                    return
                if not self._bound.is_set():  # bind never attempted (should not happen)
                    continue
                if activated is not None and activated.tt4_cmd:
                    self._serve(bytes(activated.tt4_cmd))
        finally:
            self.card.reset()
            self._silent.set()

    def _go_silent(self):
        self.card.reset()  # power is gone: PIN state lost
        self._clf.device.power_off()  # close the socket: nothing answers any more
        self._silent.set()

    def _serve(self, frame: bytes):
        """One activation: from ATTRIB to DESELECT, RFOFF, removal or stop (a new poll is answered here)."""
        dep = None
        reply = None
        while True:
            if not frame:
                reply = None
            elif len(frame) == 3 and frame[0] == 0x05:
                # A reader polls anew (SENSB_REQ/ALLB_REQ) without switching its field off: answer
                # as a card newly in the field; an ATTRIB may follow.
                self.card.reset()
                dep = None
                reply = self.sensb_res
            elif frame[0] == 0x1D and len(frame) >= 9:  # ATTRIB
                reply = None
                if frame[1:5] == self.pupi:
                    fsd = _FSC_TABLE[min(frame[6] & 0x0F, 8)]
                    self.card.reset()
                    dep = _IsoDepCard(self._transmit_in_time, fsd)
                    self.activations += 1
                    reply = bytes([frame[8] & 0x0F])  # MBLI 0, CID echoed
            elif dep is not None:
                try:
                    reply = dep.handle(frame)
                except _LinkLost:
                    self.card.reset()
                    return
            else:
                reply = None
            if self._stopping.is_set() or not self._present.is_set():
                return  # pulled or stopped: this frame gets no answer
            if dep is not None and dep.deselected:
                self._clf.exchange(bytearray(reply), 0)  # send only
                self.card.reset()
                return
            frame = self._exchange(reply)
            if frame is None:
                return

    def _transmit_in_time(self, command: bytes) -> bytes:
        """Run one APDU on the card; while it runs past FWT/3, keep the reader waiting with S(WTX)."""
        result = []

        def run():
            try:
                result.append(self.card.transmit(command))
            except Exception:  # the card must answer something; never leave the reader hanging
                log.exception("virtual card failed on an APDU")
                result.append(b"\x6f\x00")

        worker = threading.Thread(target=run, name="udp-card-apdu", daemon=True)
        worker.start()
        worker.join(self.fwt / 3)
        while worker.is_alive():
            if self._stopping.is_set() or not self._present.is_set():
                worker.join()
                raise _LinkLost
            try:
                answer = self._clf.exchange(bytearray([0xF2, _WTXM]), self.fwt * _WTXM)
            except nfc.clf.CommunicationError:
                worker.join()
                raise _LinkLost from None
            if answer is None or bytes(answer) != bytes([0xF2, _WTXM]):
                worker.join()
                raise _LinkLost
            worker.join(self.fwt * _WTXM / 3)
        return result[0]

    def _exchange(self, reply: bytes | None) -> bytes | None:
        """Send *reply* (if any) and wait for the next frame; None ends the activation."""
        send = bytearray(reply) if reply is not None else None
        while True:
            try:
                data = self._clf.exchange(send, _SLICE)
                if data is not None:
                    return bytes(data)
            except nfc.clf.BrokenLinkError:  # the reader switched its field off (RFOFF)
                self.card.reset()
                return None
            except nfc.clf.TimeoutError:
                pass
            except nfc.clf.CommunicationError:
                pass  # a malformed datagram: keep listening
            send = None
            if self._stopping.is_set() or not self._present.is_set():
                return None
