"""WebSocket routes of all apps, collected in one place (filled as the apps add consumers)."""

from clinicapi.console.routing import websocket_urlpatterns as console_websockets

websocket_urlpatterns = [*console_websockets]
