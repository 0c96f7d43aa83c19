"""URLs of the security tests' live servers: the hubs, and a view that fails with the URL in its error."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"boom at {request.get_full_path()}")


urlpatterns = [path("boom/", boom), path("", include("django_hubs.urls"))]
