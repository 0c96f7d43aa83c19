"""Settings of the bench project: production-like (DEBUG off, no logging of connections).

One settings module serves both apps, so django-hubs and the Channels consumer run on
the same Django, middleware and channel layer configuration. The in-memory channel
layer is what the consumer's groups need; django-hubs runs without a backplane on it.
``BENCH_REDIS_URL`` (set by the suite for W5 only) switches to channels_redis, so that
several django-hubs processes act as one hub over that Redis.
"""

import os

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "django_hubs",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.hubapp.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

HUBS = {"hubs/bench": "bench.hubapp.hubs.EchoHub", "hubs/soak": "bench.hubapp.soak.SoakHub"}  # soak: bench/soak.py
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
if os.environ.get("BENCH_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["BENCH_REDIS_URL"]]},
        }
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_hubs": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}
