"""Who is asking, for Django requests and ASGI scopes alike."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest


async def request_user(request: HttpRequest) -> Any:
    """``request.user`` as set by the authentication middleware, or ``AnonymousUser``."""
    user = getattr(request, "_hubs_user", None)
    if user is not None:
        return user
    if hasattr(request, "auser"):
        try:
            return await request.auser()
        except AttributeError:
            pass
    return getattr(request, "user", None) or AnonymousUser()


def scope_user(scope: dict[str, Any]) -> Any:
    """``scope["user"]`` as the authentication middleware resolved it, or ``AnonymousUser``."""
    return scope.get("user") or AnonymousUser()
