"""The test settings with a project's own ``LOGGING``, as a user writes it: console and file, verbose.

Everything is logged at DEBUG, on the root logger and on ``django`` and ``django_hubs``
with their own handlers, so every record a server or Django makes is written twice.
Invocations are logged with their arguments.
"""

import os

from tests.settings import *  # noqa: F403

HUBS_FILTERS = [{"filter": "django_hubs.filters.InvocationLoggerFilter", "arguments": True}]

_FILE = os.environ["HUBS_TEST_LOG_FILE"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "verbose": {"format": "{asctime} {levelname} {name} {process:d} {message}", "style": "{"},
        "simple": {"format": "%(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "simple", "level": "DEBUG"},
        "file": {"class": "logging.FileHandler", "filename": _FILE, "formatter": "verbose", "level": "DEBUG"},
    },
    "root": {"handlers": ["console", "file"], "level": "DEBUG"},
    "loggers": {
        "django": {"handlers": ["console", "file"], "level": "DEBUG", "propagate": False},
        "django_hubs": {"handlers": ["console", "file"], "level": "DEBUG", "propagate": False},
    },
}
