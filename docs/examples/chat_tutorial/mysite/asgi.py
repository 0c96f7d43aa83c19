"""ASGI entry point: Django over HTTP, the hubs over WebSockets."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from django_hubs.asgi import get_asgi_application

application = get_asgi_application()
