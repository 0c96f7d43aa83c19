"""URLs of the security tests' live servers: the hubs, a view that fails with the URL in its error, login and logout."""

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"boom at {request.get_full_path()}")


@csrf_exempt
def log_in(request: HttpRequest) -> HttpResponse:
    """A browser's login form: the answer sets the session cookie."""
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    if user is None:
        return HttpResponse(status=403)
    login(request, user)
    return HttpResponse(str(user.pk))


@csrf_exempt
def log_out(request: HttpRequest) -> HttpResponse:
    """What ``LogoutView`` does, without its CSRF token (these tests send none)."""
    logout(request)
    return HttpResponse("bye")


urlpatterns = [
    path("boom/", boom),
    path("login/", log_in),
    path("logout/", log_out),
    path("", include("django_hubs.urls")),
]
