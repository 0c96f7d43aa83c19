"""The pages: sign-in, the chat, and a staff page with each hub's live figures from django-hubs' metrics."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from django_hubs.server import metrics
from django_hubs.server.endpoints import endpoints

from .hubs import ChatHub

#: Rooms the page offers; any other name can be typed in.
SUGGESTED_ROOMS = ("lobby", "python", "random")


class LoginView(auth_views.LoginView):
    """Django's login form. Its script first gets a JWT pair for the hub, then submits the form."""

    template_name = "chat/login.html"
    next_page = "chat"


class LogoutView(auth_views.LogoutView):
    next_page = "login"


def hub_url(hub_class: type) -> str:
    """Where ``settings.HUBS`` serves ``hub_class``."""
    for path, endpoint in endpoints().items():
        if endpoint.hub_class is hub_class:
            return f"/{path}"
    raise LookupError(f"{hub_class.__qualname__} is not listed in settings.HUBS")


@login_required
def chat(request: HttpRequest) -> HttpResponse:
    user = request.user
    config = {
        "username": user.get_username(),
        "userId": str(user.pk),
        "moderator": user.has_perm("chat.moderate"),
        "rooms": list(SUGGESTED_ROOMS),
        "hubUrl": hub_url(ChatHub),
        "tokenUrl": reverse("token_obtain_pair"),
        "refreshUrl": reverse("token_refresh"),
        "loginUrl": reverse("login"),
    }
    return render(request, "chat/chat.html", {"config": config})


def hub_summaries() -> list[dict[str, Any]]:
    """Each hub's figures in this process, from ``django_hubs.server.metrics.snapshot()``.

    Connections by transport and protocol, users and groups are what the server holds now;
    invocations are counted since the process started (or since ``metrics.reset()``).
    """
    summaries = []
    for hub in metrics.snapshot()["hubs"]:
        connections = hub["connections"]
        summaries.append(
            {
                "path": hub["path"],
                "hub": hub["hub"],
                "connections": connections["active"],
                "opened": connections["opened"],
                "closed": connections["closed"],
                "transports": sorted(connections["by_transport"].items()),
                "protocols": sorted(connections["by_protocol"].items()),
                "users": hub["users"],
                "group_count": hub["groups"]["count"],
                # The largest groups (at most metrics.MAX_LISTED_GROUPS), by name.
                "groups": sorted(hub["groups"]["members"].items()),
                "invocations": [
                    {
                        "method": method,
                        "ok": stats["calls"] - stats["errors"],
                        "errors": stats["errors"],
                        "rejected": stats["rejected"],
                        "mean_ms": stats["duration"]["mean"] * 1000,
                    }
                    for method, stats in hub["invocations"].items()
                ],
                "messages": hub["messages"],
            }
        )
    return summaries


@login_required
def staff(request: HttpRequest) -> HttpResponse:
    """The hub figures, for staff. A signed-in user who is not staff is told so (403), not sent to sign in."""
    if not request.user.is_staff:
        return render(request, "chat/staff_only.html", status=403)
    return render(request, "chat/staff.html", {"hubs": hub_summaries()})
