"""The bench hub served by django-hubs, as its README tells users to set it up."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.hubapp.settings")

from django_hubs.asgi import get_asgi_application

application = get_asgi_application()
