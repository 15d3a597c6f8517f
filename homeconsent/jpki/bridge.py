"""The reader bridge: a local WebSocket server through which a page of the site uses the card.

It listens on 127.0.0.1 and serves only the configured page origins (any other Origin is refused at
the handshake with HTTP 403). Messages are JSON objects with a `type` and an `id` echoed back:

    → {"id": 1, "type": "status"}
    ← {"id": 1, "type": "status", "reader": true, "reader_name": "...", "device": "usb", "card": true}
    → {"id": 2, "type": "read_certificate", "timeout": 30}
    ← {"id": 2, "type": "read_certificate", "certificate": "<base64 DER>", "ca_certificate": "..."}
    → {"id": 3, "type": "tries_left"}
    ← {"id": 3, "type": "tries_left", "tries_left": 3}
    → {"id": 4, "type": "authenticate", "challenge_message": "<base64 challenge message>", "pin": "1234"}
    ← {"id": 4, "type": "progress", "step": "waiting_for_card" | "reading" | "verifying_pin" | "signing"}
    ← {"id": 4, "type": "authenticate", "signature": "...", "certificate": "...", "tries_left": 3}
    ← {"id": 4, "type": "error", "code": "pin_incorrect", "message": "...", "message_en": "...",
       "tries_left": 2}
    ← {"id": 4, "type": "error", "code": "card_removed", ..., "pin_tried": false}  (true: the card left
       after the PIN went to it and before it accepted it, so a try may have been used)

Card requests take an optional `timeout` (seconds to wait for a card, default 30, at most 120).
One card operation runs at a time, across all pages: another request meanwhile gets `busy`.
nfcpy blocks, so card work runs in one worker thread and the event loop stays responsive.

The PIN goes from the page to the card and nowhere else: it is checked to be 4 digits, held as a
bytearray that is wiped after VERIFY, and never logged. Nothing here logs a request body, and the
nfcpy and websockets loggers, whose debug records hold every frame, are kept above DEBUG.
"""

import asyncio
import base64
import datetime
import ipaddress
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from homeconsent.errors import ErrorCode, HomeConsentError

from . import challenge_message
from .challenge_message import page_origin  # noqa: F401 - the bridge's configuration reads origins with it
from .reader import EF_USER_AUTH_CA_CERTIFICATE, EF_USER_AUTH_CERTIFICATE, NO_READER, CardReader

log = logging.getLogger(__name__)
# websockets logs each frame at DEBUG, PIN included: the bridge's websockets logger stays at INFO.
_ws_log = logging.getLogger(__name__ + ".websocket")

# 2: authenticate takes the HomeConsent challenge message, never a digest (docs/readers.md).
PROTOCOL_VERSION = 2
DEFAULT_CARD_TIMEOUT = 30.0
MAX_CARD_TIMEOUT = 120.0
MAX_MESSAGE_BYTES = 8192
PIN_PATTERN = re.compile(r"[0-9]{4}")
BUSY = ErrorCode(
    "busy",
    "カードリーダーは別の操作を処理中です。終わってからもう一度お試しください。",
    "the reader is busy with another operation: try again when it has finished",
)
BAD_REQUEST = ErrorCode(
    "bad_request",
    "リーダーブリッジへの要求が正しくありません（{detail}）。",
    "bad request to the reader bridge ({detail})",
)
INTERNAL_ERROR = ErrorCode(
    "card_error",
    "リーダーブリッジで予期しないエラーが発生しました。",
    "unexpected error in the reader bridge",
)

CARD_REQUESTS = {"read_certificate", "tries_left", "authenticate"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _card_timeout(message: dict) -> float:
    value = message.get("timeout", DEFAULT_CARD_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_CARD_TIMEOUT:
        raise BAD_REQUEST(detail=f"timeout must be 0 to {MAX_CARD_TIMEOUT:g} seconds")
    return float(value)


def _digest_info(message: dict, origin: str) -> bytes:
    """The DigestInfo the card signs, computed here from a HomeConsent challenge message for this
    origin (challenge_message.check); a page can no longer hand over a digest of its choosing."""
    if "digest_info" in message:
        raise challenge_message.DIGEST_REFUSED()
    signed = challenge_message.page_message(message.get("challenge_message"))
    challenge_message.check(signed, origin, datetime.datetime.now(datetime.UTC))
    return challenge_message.digest_info(signed)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pin(message: dict) -> bytearray:
    value = message.pop("pin", None)
    if not isinstance(value, str) or not PIN_PATTERN.fullmatch(value):
        raise BAD_REQUEST(detail="the PIN is 4 digits")
    return bytearray(value.encode("ascii"))


class _Operation:
    """One card request in flight: its connection's cancel flag and its progress reports."""

    def __init__(self, loop, outbox, request_id):
        self.cancelled = threading.Event()
        self._loop, self._outbox, self.request_id = loop, outbox, request_id

    def progress(self, step: str) -> None:
        # Called from the worker thread; messages keep their order through the outbox queue.
        message = {"id": self.request_id, "type": "progress", "step": step}
        self._loop.call_soon_threadsafe(self._outbox.put_nowait, message)


class ReaderBridge:
    """The bridge for one reader (`device`: "usb", "usb:054c:06c3", "udp:127.0.0.1:PORT", ...).

    Run it with `await bridge.serve_forever()` (the management command) or `start()` / `stop()` in a
    background thread (tests, the demo). `port` 0 picks a free port; `bridge.port` tells which.
    """

    def __init__(self, device: str, *, host: str = "127.0.0.1", port: int = 0, origins=()):
        if not origins:
            raise ValueError("the bridge serves only configured page origins: give at least one")
        if not _loopback(host):
            raise ValueError(f"the bridge listens on the loopback interface only, not {host}")
        self.device = device
        self.host = host
        self.port = port
        self.origins = list(dict.fromkeys(page_origin(origin) for origin in origins))
        self.reader = CardReader(device)  # also keeps nfcpy's frame logging off
        _ws_log.setLevel(logging.INFO)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reader-bridge")
        self._current: _Operation | None = None
        self._server = None
        self._thread = None
        self._loop = None
        self._stopped = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # --- running --------------------------------------------------------------------------------
    async def start_serving(self):
        """Listen; returns once the socket is bound (self.port is then the real port)."""
        self._server = await serve(
            self._connection,
            self.host,
            self.port,
            origins=self.origins,
            max_size=MAX_MESSAGE_BYTES,
            logger=_ws_log,
            server_header=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("reader bridge on %s for %s, device %s", self.url, ", ".join(self.origins), self.device)
        return self._server

    async def probe_reader(self) -> dict:
        """Open the reader now (in the worker thread): the reader part of a status answer."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._reader_status)

    async def serve_forever(self, stop: asyncio.Future | None = None) -> None:
        """Serve until `stop` is done (or forever), then close everything."""
        await self.start_serving()
        await self.serve_until(stop)

    async def serve_until(self, stop: asyncio.Future | None) -> None:
        """Serve (already listening) until `stop` is done, then close everything."""
        try:
            await (stop if stop is not None else asyncio.get_running_loop().create_future())
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._current is not None:
            self._current.cancelled.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.get_running_loop().run_in_executor(self._executor, self.reader.close)
        self._executor.shutdown(wait=True)

    def start(self) -> "ReaderBridge":
        """Serve from a background thread with its own event loop, until stop()."""
        started = threading.Event()
        failure = []

        async def main():
            self._loop = asyncio.get_running_loop()
            self._stopped = self._loop.create_future()
            try:
                await self.start_serving()
            except Exception as error:  # e.g. the port is taken: start() raises it
                failure.append(error)
                return
            finally:
                started.set()
            await self.serve_until(self._stopped)

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="reader-bridge-loop", daemon=True
        )
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(lambda: self._stopped.done() or self._stopped.set_result(None))
        self._thread.join(timeout=10)
        self._thread = None

    # --- one page's connection ------------------------------------------------------------------
    async def _connection(self, websocket):
        loop = asyncio.get_running_loop()
        # The handshake accepted only configured origins; this one is what each challenge must name.
        origin = page_origin(websocket.request.headers.get("Origin", ""))
        outbox: asyncio.Queue = asyncio.Queue()
        writer = asyncio.create_task(self._write(websocket, outbox))
        mine: set[_Operation] = set()
        tasks: set[asyncio.Task] = set()
        try:
            async for raw in websocket:
                request_id, message, refusal = self._parse(raw)
                raw = None  # nothing keeps the request text (it may hold the PIN) past parsing
                if refusal is not None:
                    outbox.put_nowait(self._error(request_id, refusal))
                    continue
                kind = message["type"]
                try:
                    if self._current is not None:
                        raise BUSY()
                    work = self._prepare(kind, message, origin)
                except HomeConsentError as error:
                    log.info("%s refused: %s", kind, error.code)
                    outbox.put_nowait(self._error(request_id, error))
                    continue
                finally:
                    message.clear()  # the request (and its PIN) is not kept past this point
                operation = _Operation(loop, outbox, request_id)
                self._current = operation
                mine.add(operation)
                task = asyncio.create_task(self._run(kind, work, operation, outbox))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                task.add_done_callback(lambda _t, op=operation: mine.discard(op))
        except ConnectionClosed:
            pass
        finally:
            for operation in mine:  # the page went away: stop waiting for its card
                operation.cancelled.set()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            outbox.put_nowait(None)
            await writer

    async def _write(self, websocket, outbox):
        while (message := await outbox.get()) is not None:
            try:
                await websocket.send(json.dumps(message, ensure_ascii=False))
            except ConnectionClosed:
                pass

    @staticmethod
    def _parse(raw) -> tuple[object, dict | None, HomeConsentError | None]:
        """(id, message, None) for a well-formed request, else (id or None, None, the refusal)."""
        try:
            message = json.loads(raw)
        except (TypeError, ValueError):
            return None, None, BAD_REQUEST(detail="not JSON")
        if not isinstance(message, dict):
            return None, None, BAD_REQUEST(detail="not a JSON object")
        request_id = message.get("id")
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            message.clear()
            return None, None, BAD_REQUEST(detail="id must be a string or a number")
        if message.get("type") != "status" and message.get("type") not in CARD_REQUESTS:
            message.clear()
            return request_id, None, BAD_REQUEST(detail="unknown type")
        return request_id, message, None

    def _prepare(self, kind: str, message: dict, origin: str):
        """Check a request on the loop and return the function the worker thread runs."""
        if kind == "status":
            return lambda operation: self._status()
        timeout = _card_timeout(message)
        if kind == "read_certificate":
            return lambda operation: self._read_certificate(timeout, operation)
        if kind == "tries_left":
            return lambda operation: self._tries_left(timeout, operation)
        digest_info = _digest_info(message, origin)
        pin = _pin(message)
        return lambda operation: self._authenticate(digest_info, pin, timeout, operation)

    async def _run(self, kind, work, operation, outbox):
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, work, operation)
        except HomeConsentError as error:
            log.info("%s refused: %s (%.2fs)", kind, error.code, time.monotonic() - started)
            outbox.put_nowait(self._error(operation.request_id, error))
        except Exception:
            log.exception("%s failed", kind)
            outbox.put_nowait(self._error(operation.request_id, INTERNAL_ERROR()))
        else:
            log.info("%s done (%.2fs)", kind, time.monotonic() - started)
            outbox.put_nowait({"id": operation.request_id, "type": kind, **result})
        finally:
            self._current = None

    @staticmethod
    def _error(request_id, error: HomeConsentError) -> dict:
        message = {"id": request_id, "type": "error", **error.as_dict()}
        if "tries_left" in error.params:
            message["tries_left"] = error.params["tries_left"]
        if "pin_tried" in error.params:
            message["pin_tried"] = bool(error.params["pin_tried"])
        return message

    # --- the card work (worker thread) ----------------------------------------------------------
    def _reader_status(self) -> dict:
        try:
            self.reader.open()
        except HomeConsentError as error:
            return {
                "reader": False,
                "reader_name": None,
                "message": error.message("ja"),
                "message_en": error.message("en"),
            }
        return {"reader": True, "reader_name": self.reader.name}

    def _status(self) -> dict:
        status = {"protocol": PROTOCOL_VERSION, "device": self.device, **self._reader_status(), "card": False}
        if status["reader"]:
            try:
                self.reader.connect_card(0, threading.Event())
                status["card"] = True
            except HomeConsentError as error:
                if error.error is NO_READER:
                    status.update(self._reader_status())
            finally:
                self.reader.release()
        return status

    def _with_card(self, timeout, operation, action):
        self.reader.open()
        operation.progress("waiting_for_card")
        card = self.reader.connect_card(timeout, operation.cancelled)
        try:
            return action(card)
        finally:
            self.reader.release()

    def _read_certificate(self, timeout, operation) -> dict:
        def action(card):
            card.select_application()
            operation.progress("reading")
            return {
                "certificate": _b64(card.read_certificate(EF_USER_AUTH_CERTIFICATE)),
                "ca_certificate": _b64(card.read_certificate(EF_USER_AUTH_CA_CERTIFICATE)),
            }

        return self._with_card(timeout, operation, action)

    def _tries_left(self, timeout, operation) -> dict:
        def action(card):
            card.select_application()
            return {"tries_left": card.tries_left()}

        return self._with_card(timeout, operation, action)

    def _authenticate(self, digest_info, pin: bytearray, timeout, operation) -> dict:
        used = []

        def action(card):
            used.append(card)
            return card.authenticate(digest_info, pin, operation.progress)

        try:
            result = self._with_card(timeout, operation, action)
        except HomeConsentError as error:
            if error.code == "card_removed" and used:
                # The page tells the patient whether a PIN try may have been used.
                error.params["pin_tried"] = used[0].pin_sent and not used[0].pin_accepted
            raise
        finally:
            pin[:] = bytes(len(pin))
        return {
            "signature": _b64(result["signature"]),
            "certificate": _b64(result["certificate"]),
            "tries_left": result["tries_left"],
        }
