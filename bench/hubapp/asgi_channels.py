"""The hand-written Channels consumer, routed as the Channels tutorial does it."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.hubapp.settings")

import django
from django.core.asgi import get_asgi_application

django.setup(set_prefix=False)
http_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - after django.setup()
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - after django.setup()
from django.urls import path  # noqa: E402 - after django.setup()

from bench.hubapp.consumers import EchoConsumer  # noqa: E402 - after django.setup()

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AuthMiddlewareStack(URLRouter([path("ws/echo", EchoConsumer.as_asgi())])),
    }
)
