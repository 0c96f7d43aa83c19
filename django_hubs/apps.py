from django.apps import AppConfig
from django.core import checks


class DjangoHubsConfig(AppConfig):
    name = "django_hubs"
    verbose_name = "Django Hubs"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import logging as hubs_logging
        from .checks import check_security, check_settings

        checks.register(check_settings, checks.Tags.security)
        checks.register(check_security, checks.Tags.security)
        # Servers configure their loggers before loading the app: cover them now, and
        # every record made from now on, whatever reconfigures logging later.
        hubs_logging.install()
