"""A typo beside a good hub, served by ``django_hubs.asgi.get_asgi_application()`` (the Quickstart's asgi.py)."""

from tests.channels_project.settings import *  # noqa: F403

HUBS = {"hubs/chat": "tests.channels_project.hubs.ChatHub", "hubs/typo": "tests.channels_project.hubs.ChatHubb"}
ASGI_APPLICATION = "tests.asgi.application"
