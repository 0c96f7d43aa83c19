"""The same project before ``ChatHub.as_asgi()`` was routed: what ``manage.py check`` must flag."""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels_project.settings")
django_asgi_app = get_asgi_application()

from tests.channels_project.consumers import EchoConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter([path("ws/echo/", EchoConsumer.as_asgi())])),
    }
)

from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from tests.channels_project.routing import websocket_urlpatterns  # noqa: E402

#: The tutorial's validator in front of the hub: the check warns (W020).
with_validator = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


class Opaque:
    """Middleware that keeps its inner app where the check cannot see it."""

    def __init__(self, inner):
        self._hidden = inner

    async def __call__(self, scope, receive, send):
        return await self._hidden(scope, receive, send)


#: Routing the check cannot follow: it must not claim the hub is missing.
opaque = ProtocolTypeRouter({"http": django_asgi_app, "websocket": Opaque(URLRouter(websocket_urlpatterns))})
