from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class DjangoHubsConfig(AppConfig):
    name = "django_hubs"
    verbose_name = "Django Hubs"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from .checks import check_negotiate_routes, check_security, check_settings, check_websocket_routes
        from .security import redaction as hubs_logging
        from .security import sessions

        checks.register(check_settings, checks.Tags.security)
        checks.register(check_security, checks.Tags.security)
        checks.register(check_negotiate_routes, checks.Tags.urls)
        checks.register(check_websocket_routes, checks.Tags.urls)
        sessions.connect()  # a logout closes the hub connections of that session
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
