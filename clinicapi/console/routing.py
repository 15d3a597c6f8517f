from django.urls import path

from .consumers import ConsoleEventsConsumer

websocket_urlpatterns = [
    path("ws/console/events/", ConsoleEventsConsumer.as_asgi()),
]
