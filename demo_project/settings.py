"""Settings of the demo: a chat on the embedded defaults (SQLite, in-memory channel layer).

The environment variables read here let the browser tests run the demo with their own
database, short token lifetimes and short timeouts; ``demo_project/run.py`` sets none.
"""

import os
from datetime import timedelta
from pathlib import Path

from demo_project import csp

BASE_DIR = Path(__file__).resolve().parent.parent
DEMO_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-insecure-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "channels",
    "django_hubs",
    "demo_project.chat",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Content Security Policy (demo_project/csp.py): only this site's scripts, styles and
# connections, the hub's WebSocket included. Django 6.0+ sends it as a header through its
# CSP middleware; on Django 5.2, which has none, base.html carries it in a <meta> tag.
DEMO_CSP = csp.policy(ALLOWED_HOSTS)
if csp.HEADER:
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "django.middleware.csp.ContentSecurityPolicyMiddleware",
    )
    SECURE_CSP = DEMO_CSP

ROOT_URLCONF = "demo_project.urls"
ASGI_APPLICATION = "demo_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo_project.csp.csp_meta",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB", DEMO_DIR / "demo.sqlite3"),
    }
}

AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# The official browser client, installed by npm (demo_project/package.json) and served from
# node_modules as /static/signalr/signalr.min.js: the page loads nothing from elsewhere.
SIGNALR_BROWSER_DIR = DEMO_DIR / "node_modules" / "@microsoft" / "signalr" / "dist" / "browser"
STATICFILES_DIRS = [("signalr", SIGNALR_BROWSER_DIR)] if SIGNALR_BROWSER_DIR.is_dir() else []
LOGIN_URL = "login"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-hubs: URL path -> hub class.
HUBS = {"hubs/chat": "demo_project.chat.hubs.ChatHub"}
HUBS_DETAILED_ERRORS = os.environ.get("HUBS_DETAILED_ERRORS", "0") == "1"
# Short timeouts for the browser tests; the defaults otherwise.
for _name in ("HUBS_KEEP_ALIVE_INTERVAL", "HUBS_CLIENT_TIMEOUT", "HUBS_HANDSHAKE_TIMEOUT"):
    if _name in os.environ:
        globals()[_name] = float(os.environ[_name])

# The page gets a JWT pair from /api/token/ and connects with the access token; the hub
# closes a connection whose token expired, and the page reconnects with a refreshed one.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=float(os.environ.get("DEMO_ACCESS_TOKEN_SECONDS", 300))),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=float(os.environ.get("DEMO_REFRESH_TOKEN_SECONDS", 24 * 3600))),
    "UPDATE_LAST_LOGIN": False,
}
REST_FRAMEWORK = {"DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]}

# Seconds between the progress items of the hub's LongTask stream.
DEMO_TASK_STEP_SECONDS = float(os.environ.get("DEMO_TASK_STEP_SECONDS", 0.15))

# Cross-origin browsers: list the origins you trust (none by default: same origin only).
CORS_ALLOWED_ORIGINS = [o for o in os.environ.get("CORS_ALLOWED_ORIGINS", "").split(",") if o]
CORS_ALLOW_CREDENTIALS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_hubs": {"handlers": ["console"], "level": os.environ.get("HUBS_LOG_LEVEL", "INFO"), "propagate": False},
    },
}
