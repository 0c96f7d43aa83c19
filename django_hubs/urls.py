"""``path("", include("django_hubs.urls"))``: negotiate and the HTTP transports of every hub.

Built from ``settings.HUBS`` when the URLconf is loaded.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from .endpoints import endpoints
from .transports.http import hub_endpoint
from .transports.negotiate import negotiate

app_name = "django_hubs"


def hub_urlpatterns() -> list[URLPattern]:
    patterns = []
    for hub_path in endpoints():
        name = hub_path.replace("/", "-")
        kwargs = {"hub_path": hub_path}
        patterns += [
            path(f"{hub_path}/negotiate", negotiate, kwargs, name=f"{name}-negotiate"),
            path(f"{hub_path}/negotiate/", negotiate, kwargs),
            path(hub_path, hub_endpoint, kwargs, name=name),
            path(f"{hub_path}/", hub_endpoint, kwargs),
        ]
    return patterns


urlpatterns = hub_urlpatterns()
