from channels.routing import URLRouter
from django.urls import path

from tests.channels_project.consumers import EchoConsumer
from tests.channels_project.hubs import ChatHub

websocket_urlpatterns = [
    path("ws/echo/", EchoConsumer.as_asgi()),  # the project's own consumer
    path("hubs/chat", ChatHub.as_asgi()),  # the hub, also listed in HUBS for negotiate, SSE and long polling
]

#: The project's own consumers alone, for ``get_asgi_application(websocket="...")``.
echo_application = URLRouter([path("ws/echo/", EchoConsumer.as_asgi())])
