"""URLs of the security tests' live servers: the hubs, a view that fails with the URL in its error, login, logout, password change."""

from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
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


@csrf_exempt
def change_password(request: HttpRequest) -> HttpResponse:
    """What ``PasswordChangeView`` does once the form is valid: this browser stays logged in."""
    user = request.user
    if not user.is_authenticated:
        return HttpResponse(status=403)
    user.set_password(request.POST["password"])  # the same one works too: a new salt, a new hash
    user.save()
    update_session_auth_hash(request, user)
    return HttpResponse("changed")


urlpatterns = [
    path("boom/", boom),
    path("login/", log_in),
    path("logout/", log_out),
    path("password/", change_password),
    path("", include("django_hubs.urls")),
]
