"""Sending to a Channels group from synchronous code, on one event loop kept for the process.

async_to_sync(layer.group_send) makes a new event loop in a new thread for every call, and
channels_redis keeps its connections per event loop, so every event also opened a Redis connection:
1.4 ms per event on the in-memory layer and 5.3 ms on Redis here (bench/README.md), paid by each
consent registration after its commit. Here the loop and its connections live as long as the process
(a forked child starts its own); the caller still waits until the layer has taken the message.
"""

import asyncio
import os
import threading

from channels.layers import get_channel_layer

TIMEOUT_SECONDS = 30  # as the Redis socket timeout (settings.CHANNEL_REDIS_HOST_OPTIONS)

_lock = threading.Lock()
_loop = None
_loop_pid = None


def _running_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-publish", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def group_send(group: str, message: dict) -> bool:
    """Send message to group through the default channel layer; False when there is none.
    Raises what the layer raises (or TimeoutError), as async_to_sync(layer.group_send) did."""
    layer = get_channel_layer()
    if layer is None:
        return False
    future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _running_loop())
    future.result(timeout=TIMEOUT_SECONDS)
    return True
