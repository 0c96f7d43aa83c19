"""The project's settings: the tutorial's, plus corsheaders, django_hubs and ``HUBS``."""

import os

SECRET_KEY = "channels-project-tests-only"
# The same signing key as tests/settings.py, so tests mint tokens the same way for both.
SIMPLE_JWT = {"SIGNING_KEY": "tests-only-jwt-signing-key-of-32-bytes-or-more"}
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
INSTALLED_APPS = [
    "daphne",  # before django.contrib.staticfiles: daphne's runserver replaces its command
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "corsheaders",
    "channels",
    "django_hubs",
]
MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.channels_project.urls"
ASGI_APPLICATION = "tests.channels_project.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("HUBS_TEST_DB", ":memory:")}}
STATIC_URL = "static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

HUBS = {"hubs/chat": "tests.channels_project.hubs.ChatHub"}
