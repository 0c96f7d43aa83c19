"""URLs of the token-refresh live tests: the hubs and a token endpoint for the JS refresh loop.

``GET token/<user id>?lifetime=<seconds>`` mints an access token: the test's stand-in for a
site's own token endpoint (simplejwt's ``TokenRefreshView`` in a real one). Test-only: it
authenticates nobody.
"""

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework_simplejwt.tokens import AccessToken


def token(request: HttpRequest, user_id: int) -> HttpResponse:
    access = AccessToken()
    access["user_id"] = user_id
    access.set_exp(lifetime=timedelta(seconds=float(request.GET.get("lifetime", "300"))))
    return HttpResponse(str(access), content_type="text/plain")


urlpatterns = [
    path("token/<int:user_id>", token),
    path("", include("django_hubs.urls")),
]
