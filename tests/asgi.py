import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django_hubs.asgi import get_asgi_application

application = get_asgi_application()
