import logging
import sys
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

#: What a new project sees on stderr without writing ``LOGGING``: connections opening and closing,
#: as ``django.server`` shows requests.
DEFAULT_LOG_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"


class DjangoHubsConfig(AppConfig):
    name = "django_hubs"
    verbose_name = "Django Hubs"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import consumer  # noqa: F401 - registers what Hub.as_asgi() returns
        from .checks import check_negotiate_routes, check_security, check_settings, check_websocket_routes
        from .security import redaction as hubs_logging
        from .security import sessions

        checks.register(check_settings, checks.Tags.security)
        checks.register(check_security, checks.Tags.security)
        checks.register(check_negotiate_routes, checks.Tags.urls)
        checks.register(check_websocket_routes, checks.Tags.urls)
        sessions.connect()  # a logout closes the hub connections of that session
        default_logging(getattr(settings, "LOGGING_CONFIG", None), getattr(settings, "LOGGING", {}))
        # Servers configure their loggers before loading the app: cover them now, and
        # every record made from now on, whatever reconfigures logging later.
        hubs_logging.install()
        if getattr(settings, "HUBS_OPENTELEMETRY", True) is not False:
            install_tracing()


def install_tracing() -> None:
    """Spans and connection metrics when ``opentelemetry-api`` is installed; nothing at all otherwise."""
    try:
        from .extras import tracing
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "opentelemetry":
            raise
        return
    tracing.install()  # the no-op API's tracer and meter until the project sets up an SDK


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record, as ``logging.lastResort`` does.

    Test runners and servers swap ``sys.stderr``; a stream bound at startup may be closed later.
    """

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # emit runs under the handler's lock
        super().emit(record)


class InfoWhileDebug(logging.Filter):
    """INFO and below only while ``DEBUG`` is on, as Django's own console handler; WARNING and up always.

    Warnings are what ``logging.lastResort`` printed before this handler existed; the test
    runner turns ``DEBUG`` off, so test output is not interleaved with connection lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or bool(settings.DEBUG)


def configures_hubs_logger(logging_settings: Any) -> bool:
    """Whether the project's ``LOGGING`` names the ``django_hubs`` logger or one below it."""
    loggers = logging_settings.get("loggers", {}) if isinstance(logging_settings, dict) else {}
    return any(name == "django_hubs" or str(name).startswith("django_hubs.") for name in loggers)


def reaches_a_handler(logger: logging.Logger) -> bool:
    """Whether the logger's records reach any handler (``logging.lastResort`` aside)."""
    current: logging.Logger | None = logger
    while current is not None:
        if current.handlers:
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def default_logging(logging_config: Any, logging_settings: Any) -> logging.Handler | None:
    """Show django-hubs' INFO lines on stderr (while ``DEBUG``) unless the project decided where they go.

    Django's ``DEFAULT_LOGGING`` gives ``django.server`` a console handler at INFO but has no
    root handler, so the ``django_hubs`` records would reach only ``logging.lastResort``
    (WARNING and above). Nothing is added when ``LOGGING_CONFIG`` is ``None`` (the project
    configures logging itself), when ``LOGGING`` names a ``django_hubs`` logger, or when the
    records already reach a handler (``daphne``'s command configures the root logger).
    Records propagate as before; the redaction filter is attached to the handler by
    ``security.redaction.install()``, which runs after this.
    """
    logger = logging.getLogger("django_hubs")
    if logging_config is None or configures_hubs_logger(logging_settings) or reaches_a_handler(logger):
        return None
    handler = StderrHandler()
    handler.setLevel(logging.INFO)
    handler.addFilter(InfoWhileDebug())
    handler.setFormatter(logging.Formatter(DEFAULT_LOG_FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return handler
