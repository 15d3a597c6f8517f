"""The production application (bin/serve): one ASGI app per worker process, HTTP and WebSockets.

HTTP goes to Django's WSGI handler on a fixed pool of long-lived threads (a2wsgi), not to Django's
ASGI handler: that one runs each request's sync code in a new thread, so a persistent database
connection (CONN_MAX_AGE) is never reused and every request opens one. On the pool each thread
keeps its connection, and psycopg keeps the statements it prepared on it. WebSockets (the console
board) go to Channels as in homeconsent.asgi; with REDIS_URL the channel layer is Redis, so an event
published by one process reaches sockets held by another.

In front of them, unless HOMECONSENT_API_FAST_ROUTE=0, clinicapi.fastroute answers the plain
eligibility check on the event loop (PostgreSQL; one database call, no thread hop, Django's
headers); every other request, and every check it does not answer "ok", goes to Django unchanged.

HOMECONSENT_HTTP_THREADS sets the pool per process (default 8: a request mostly waits on the
database or Redis, so a few threads per core keep the core busy).
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from clinicapi.fastroute import FastEligibility  # noqa: E402
from homeconsent.routing import websocket_urlpatterns  # noqa: E402

HTTP_THREADS = int(os.environ.get("HOMECONSENT_HTTP_THREADS", 8))


class ThreadPoolHttp:
    """Django's WSGI handler on a2wsgi's thread pool. a2wsgi hands receive() and send() results to
    asyncio.run_coroutine_threadsafe, which takes coroutines only; granian's are other awaitables,
    so each call is wrapped in a coroutine."""

    def __init__(self, wsgi_app, threads: int):
        self.app = WSGIMiddleware(wsgi_app, workers=threads)

    async def __call__(self, scope, receive, send):
        async def receive_():
            return await receive()

        async def send_(message):
            return await send(message)

        return await self.app(scope, receive_, send_)


application = ProtocolTypeRouter(
    {
        "http": FastEligibility(ThreadPoolHttp(django_wsgi_app, HTTP_THREADS)),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# The loaded application (Django, its modules, URL and model registries) lives as long as the
# process: out of the collector's generations, a full collection during a request walks only what
# requests allocated (a batch of 10,000 allocates enough to trigger some; bench/README.md).
gc.collect()
gc.freeze()
