"""The demo's ASGI application: what ``manage.py runserver`` (daphne) serves, and what
``daphne demo_project.asgi:application`` or ``uvicorn`` would serve.

Under plain daphne or uvicorn nothing serves static files, so with ``DEBUG`` on the
Django side is wrapped in staticfiles' handler (``runserver`` does the same by itself).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application as get_django_application

from django_hubs.asgi import get_asgi_application

http = get_django_application()
if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http = ASGIStaticFilesHandler(http)

application = get_asgi_application(http=http)
