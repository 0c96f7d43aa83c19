"""``path("", include("django_hubs.urls"))``: negotiate, refresh and the HTTP transports of every hub.

Built from the paths (the keys) of ``settings.HUBS`` when the URLconf is loaded; the hub
classes are imported on first use, so a bad entry is ``manage.py check``'s ``E002``,
not an import error while Django's URL checks load this module.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, path

from .server.endpoints import normalize_path
from .transports.http import hub_endpoint
from .transports.negotiate import negotiate
from .transports.refresh import refresh

app_name = "django_hubs"


def hub_urlpatterns() -> list[URLPattern]:
    patterns = []
    hubs = getattr(settings, "HUBS", {})
    paths = [normalize_path(key) for key in hubs if isinstance(key, str)] if isinstance(hubs, dict) else []
    for hub_path in filter(None, paths):
        name = hub_path.replace("/", "-")
        kwargs = {"hub_path": hub_path}
        patterns += [
            path(f"{hub_path}/negotiate", negotiate, kwargs, name=f"{name}-negotiate"),
            path(f"{hub_path}/negotiate/", negotiate, kwargs),
            path(f"{hub_path}/refresh", refresh, kwargs, name=f"{name}-refresh"),
            path(hub_path, hub_endpoint, kwargs, name=name),
            path(f"{hub_path}/", hub_endpoint, kwargs),
        ]
    return patterns


urlpatterns = hub_urlpatterns()

__all__ = ["hub_urlpatterns", "urlpatterns"]
