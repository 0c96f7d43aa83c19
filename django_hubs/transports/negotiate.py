"""``POST <hub>/negotiate``: create a connection and list the transports (spec section 1)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..security.auth import authenticate
from ..server.authorization import is_authorized
from ..server.endpoints import HubEndpoint, find_served
from ..server.scope import query_value, request_user
from .manager import manager

#: Transports this server implements, in the order clients should try them.
IMPLEMENTED_TRANSPORTS = ("WebSockets", "ServerSentEvents", "LongPolling")
TRANSFER_FORMATS = {
    "WebSockets": ["Text", "Binary"],
    "ServerSentEvents": ["Text"],
    "LongPolling": ["Text", "Binary"],
}
MAX_NEGOTIATE_VERSION = 1


def plain(status: int, text: str = "") -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


def negotiate_error(text: str) -> JsonResponse:
    """Protocol-level failures are a 200 with an ``error`` the client shows as is."""
    return JsonResponse({"error": text})


def token_lifetime(expires_at: float | None) -> int | None:
    """Whole seconds the token stays valid, as the official server counts them; ``None`` once past or without expiry."""
    if expires_at is None:
        return None
    seconds = int(expires_at - time.time())
    return seconds if seconds > 0 else None


def available_transports(transports: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"transport": name, "transferFormats": TRANSFER_FORMATS[name]}
        for name in IMPLEMENTED_TRANSPORTS
        if name in transports
    ]


@csrf_exempt
@authenticate
async def negotiate(request: HttpRequest, hub_path: str) -> HttpResponse:
    endpoint = find_served(hub_path)
    if endpoint is None:
        return plain(404)
    if request.method != "POST":
        return plain(405, "Method not allowed")
    raw_version = query_value(request.GET, "negotiateVersion")
    if raw_version is None:
        version = 0
    else:
        try:
            version = int(raw_version)
        except ValueError:
            return negotiate_error("The client requested a non-integer protocol version.")
        if version < 0:
            return negotiate_error(
                f"The client requested version '{version}', but the server does not support this version."
            )
        version = min(version, MAX_NEGOTIATE_VERSION)

    user = await request_user(request)
    if not await is_authorized(endpoint.authorization, user):
        return plain(401)

    # Offered only to clients that ask (an unasked offer makes the JS client fail) and only
    # over WebSockets, the one transport the clients resume.
    stateful = (
        isinstance(endpoint, HubEndpoint)
        and endpoint.options.stateful_reconnect
        and (query_value(request.GET, "useStatefulReconnect") or "").lower() == "true"
        and "WebSockets" in endpoint.options.transports
    )
    record = manager.create(endpoint, version, stateful, endpoint.user_identifier(user))
    body: dict[str, Any] = {}
    if stateful:
        body["useStatefulReconnect"] = True
    body["negotiateVersion"] = version
    body["connectionId"] = record.connection_id
    if version >= 1:
        body["connectionToken"] = record.token
    if endpoint.options.auth_refresh:
        # Any negotiate version, as the official server: a version-0 client refreshes with its connection id.
        lifetime = token_lifetime(getattr(request, "hubs_token_expires_at", None))
        if lifetime is not None:
            body["tokenLifetimeSeconds"] = lifetime
    body["availableTransports"] = available_transports(endpoint.options.transports)
    return HttpResponse(json.dumps(body, separators=(",", ":")), content_type="application/json")
