"""The example project's settings: SQLite in memory, or PostgreSQL when EXAMPLE_POSTGRES_HOST is set."""

import os

SECRET_KEY = "example-only"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "channels",
    "django_hubs",
    "example",
]
ROOT_URLCONF = "example.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
HUBS = {"hubs/chat": "example.hubs.ChatHub"}

if os.environ.get("EXAMPLE_POSTGRES_HOST"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ["EXAMPLE_POSTGRES_HOST"],
            "PORT": os.environ.get("EXAMPLE_POSTGRES_PORT", "5432"),
            "USER": os.environ.get("EXAMPLE_POSTGRES_USER", "postgres"),
            "NAME": os.environ.get("EXAMPLE_POSTGRES_DB", "test"),
            # One test database per run, so that parallel runs do not share it.
            "TEST": {"NAME": os.environ.get("EXAMPLE_POSTGRES_TEST_DB", "test_example")},
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
