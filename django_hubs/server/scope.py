"""What every layer reads of an ASGI scope or a Django request, in one place below them all.

The transports, the security middleware and the hubs all ask the same questions of a
request (its query, its headers, its path, its user) and answer a refused WebSocket the
same way; keeping those answers here lets each of them import downwards only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest

Send = Callable[[dict[str, Any]], Awaitable[None]]

RAW_SEND = "django_hubs.send"
"""Scope key of the server's own ``send``, set outside the middleware that wraps it (see ``asgi.keep_raw_send``)."""


def query_value(query: Mapping[str, Any], name: str) -> str | None:
    """A query-string value the way the official server reads it: keys are case-insensitive."""
    value = query.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key in query:
        if key.lower() == lowered:
            return query.get(key)
    return None


def scope_query(scope: dict[str, Any]) -> dict[str, str]:
    """The query of an ASGI scope as a dict (the last value of a repeated key wins)."""
    raw = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def scope_header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def scope_host(scope: dict[str, Any]) -> str | None:
    """The host the client asked for, as Django's ``get_host`` reads it."""
    if getattr(settings, "USE_X_FORWARDED_HOST", False):
        forwarded = scope_header(scope, b"x-forwarded-host")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return scope_header(scope, b"host")


def scope_path(scope: dict[str, Any]) -> str:
    """The request path below the ASGI ``root_path`` (``FORCE_SCRIPT_NAME`` deployments)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


async def request_user(request: HttpRequest) -> Any:
    """``request.user`` as set by the authentication middleware, or ``AnonymousUser``."""
    from django.contrib.auth.models import AnonymousUser  # not at import: asgi.py loads this before setup

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
    user = scope.get("user")
    if user:
        return user
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


async def deny(scope: dict[str, Any], send: Send, status: int, text: str = "") -> None:
    """Refuse a WebSocket upgrade with an HTTP status where the server allows it (else a 403)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())],
            }
        )
        await send({"type": "websocket.http.response.body", "body": text.encode()})
    else:
        await send({"type": "websocket.close", "code": 1008 if status in (401, 403) else 1000})
