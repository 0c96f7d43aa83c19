"""The tutorial's ``asgi.py``: Django first, then the project's routing, with its own middleware."""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels_project.settings")
# Initialize Django's ASGI application early to populate the app registry before importing
# code that may import ORM models.
django_asgi_app = get_asgi_application()

from tests.channels_project.middleware import ProjectUserMiddleware  # noqa: E402
from tests.channels_project.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(ProjectUserMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
