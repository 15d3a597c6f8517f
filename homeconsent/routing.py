"""WebSocket routes of all apps, collected in one place (filled as the apps add consumers)."""

websocket_urlpatterns = []
