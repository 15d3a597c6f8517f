from django.urls import path

from .consumers import ConsoleEventsConsumer

# The live board's WebSocket; the page is told this path (views.board).
SOCKET_PATH = "/ws/console/events/"

websocket_urlpatterns = [
    path(SOCKET_PATH.lstrip("/"), ConsoleEventsConsumer.as_asgi()),
]
