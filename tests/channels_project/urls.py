from django.contrib.auth import authenticate, login
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def login_view(request):
    """A session login for the tests (a real site has its login form)."""
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    if user is None:
        return HttpResponse(status=403)
    login(request, user)
    return HttpResponse(status=204)


urlpatterns = [
    path("login", login_view),
    path("", include("django_hubs.urls")),  # negotiate, Server-Sent Events, long polling
]
