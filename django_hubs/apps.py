from django.apps import AppConfig
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
