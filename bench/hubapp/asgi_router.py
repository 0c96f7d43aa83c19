"""The bench hub routed as a consumer in a project's own ``URLRouter``, under ``AuthMiddlewareStack``.

What README's "Add to an existing Channels project" tells a Channels project to write; the
row beside ``hubs-uvicorn`` (``get_asgi_application()``) shows what that routing costs.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.hubapp.settings")

from django.core.asgi import get_asgi_application

http_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - after django.setup()
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - after django.setup()
from django.urls import path  # noqa: E402 - after django.setup()

from bench.hubapp.consumers import EchoConsumer  # noqa: E402 - after django.setup()
from bench.hubapp.hubs import EchoHub  # noqa: E402 - after django.setup()

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AuthMiddlewareStack(
            URLRouter([path("ws/echo", EchoConsumer.as_asgi()), path("hubs/bench", EchoHub.as_asgi())])
        ),
    }
)
