"""A typo in HUBS, with the URL include present: ``manage.py check`` must answer E002, not a traceback."""

from tests.channels_project.settings import *  # noqa: F403

HUBS = {"hubs/chat": "tests.channels_project.hubs.ChatHubb"}
