"""Settings of the test suite: the test hubs on the embedded defaults."""

import os

SECRET_KEY = "tests-only"
# simplejwt signs with SECRET_KEY by default; PyJWT warns about HMAC keys under 32 bytes.
SIMPLE_JWT = {"SIGNING_KEY": "tests-only-jwt-signing-key-of-32-bytes-or-more"}
DEBUG = os.environ.get("HUBS_TEST_DEBUG") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "corsheaders",
    "channels",
    "django_hubs",
    "tests.testapp",
    "demo_project.chat",  # tests/test_demo.py: the demo's models and hub, in process
]
MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = os.environ.get("HUBS_TEST_URLCONF", "tests.urls")
ASGI_APPLICATION = "tests.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("HUBS_TEST_DB", ":memory:"),
    }
}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

HUBS = {
    "hubs/test": "tests.testapp.hubs.TestHub",
    "hubs/detailed": {"hub": "tests.testapp.hubs.TestHub", "HUBS_DETAILED_ERRORS": True},
    "hubs/private": "tests.testapp.hubs.PrivateHub",
    # Typed arguments and results (tests/test_binding.py, test_typescript.py), with mismatch details.
    "hubs/typed": {"hub": "tests.testapp.typed.TypedHub", "DETAILED_ERRORS": True},
    # The reliability suite (tests/reliability): churn, hung methods, failing on_disconnected.
    "hubs/reliability": "tests.testapp.reliability.ReliabilityHub",
    # Threads of sync methods, ORM predicates, binding errors (tests/test_threads.py, reliability).
    "hubs/threads": "tests.testapp.threads.ThreadsHub",
    "hubs/deleters": "tests.testapp.threads.DeletersHub",
    # Authentication refresh on a live connection (tests/test_refresh.py, tests/interop/test_refresh_live.py).
    "hubs/refresh": {"hub": "tests.testapp.refresh.RefreshHub", "AUTH_REFRESH": True},
}

# Live servers in the interop tests take short timeouts from the environment.
for _name in (
    "HUBS_KEEP_ALIVE_INTERVAL",
    "HUBS_CLIENT_TIMEOUT",
    "HUBS_HANDSHAKE_TIMEOUT",
    "HUBS_DISCONNECT_TIMEOUT",
    "HUBS_LONG_POLL_TIMEOUT",
    "HUBS_STATEFUL_RECONNECT_ACK_TIMEOUT",
):
    if _name in os.environ:
        globals()[_name] = float(os.environ[_name])
if "HUBS_SYNC_THREADS" in os.environ:
    HUBS_SYNC_THREADS = int(os.environ["HUBS_SYNC_THREADS"])
if "HUBS_MAX_PARALLEL_INVOCATIONS" in os.environ:
    HUBS_MAX_PARALLEL_INVOCATIONS = int(os.environ["HUBS_MAX_PARALLEL_INVOCATIONS"])
if "HUBS_MAX_STREAMS_PER_CONNECTION" in os.environ:  # tests/interop/test_stream_limits.py
    HUBS_MAX_STREAMS_PER_CONNECTION = int(os.environ["HUBS_MAX_STREAMS_PER_CONNECTION"])
if "HUBS_MAX_MESSAGE_SIZE" in os.environ:
    HUBS_MAX_MESSAGE_SIZE = int(os.environ["HUBS_MAX_MESSAGE_SIZE"])
if "HUBS_MAX_OUTGOING_BUFFER" in os.environ:  # the hardening tests' slow clients
    HUBS_MAX_OUTGOING_BUFFER = int(os.environ["HUBS_MAX_OUTGOING_BUFFER"])
if "HUBS_STATEFUL_RECONNECT_TOTAL_BUFFER" in os.environ:  # clients that never acknowledge
    HUBS_STATEFUL_RECONNECT_TOTAL_BUFFER = int(os.environ["HUBS_STATEFUL_RECONNECT_TOTAL_BUFFER"])
# The security tests' live servers: trusted origins, and daphne's runserver (manage.py runserver).
CORS_ALLOWED_ORIGINS = [o for o in os.environ.get("HUBS_TEST_CORS_ORIGINS", "").split(",") if o]
# Allow-all origins, with cookie logins (django_hubs.E008, which runserver obeys unless silenced).
CORS_ALLOW_ALL_ORIGINS = os.environ.get("HUBS_TEST_CORS_ALL") == "1"
if os.environ.get("HUBS_TEST_RUNSERVER") == "1":
    INSTALLED_APPS.insert(0, "daphne")
# hubs/detailed turns detailed errors on outside DEBUG on purpose.
SILENCED_SYSTEM_CHECKS = ["django_hubs.W005"]
if os.environ.get("HUBS_TEST_SILENCE_E008") == "1":
    SILENCED_SYSTEM_CHECKS.append("django_hubs.E008")
if "HUBS_TRANSPORTS" in os.environ:  # comma-separated, e.g. "ServerSentEvents,LongPolling"
    HUBS_TRANSPORTS = [name.strip() for name in os.environ["HUBS_TRANSPORTS"].split(",") if name.strip()]

# Scale-out tests point every live server at one real redis-server.
if os.environ.get("HUBS_TEST_REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["HUBS_TEST_REDIS_URL"]]},
        }
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_hubs": {"handlers": ["console"], "level": os.environ.get("HUBS_LOG_LEVEL", "INFO"), "propagate": False}
    },
}
