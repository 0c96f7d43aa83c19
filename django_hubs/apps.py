from django.apps import AppConfig


class DjangoHubsConfig(AppConfig):
    name = "django_hubs"
    verbose_name = "Django Hubs"
    default_auto_field = "django.db.models.AutoField"
