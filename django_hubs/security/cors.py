"""CORS on django-hubs' own endpoints: what SignalR clients need, for the origins the site lists.

django-cors-headers does CORS for the site. The SignalR JS client, though, sends
credentials by default (``withCredentials``; load balancers need their sticky-session
cookie), custom headers (``X-SignalR-User-Agent``, ``X-Requested-With``,
``Authorization``) and GET/POST/DELETE, which cors-headers' defaults do not all allow.
This ASGI wrapper answers for negotiate, refresh and the hub paths only: for an origin that
cors-headers' settings accept (``CORS_ALLOWED_ORIGINS``, ``CORS_ALLOWED_ORIGIN_REGEXES``,
``CORS_ALLOW_ALL_ORIGINS``) it answers preflights itself and makes the response allow
credentials; every other origin and every other path keeps cors-headers' answer. With
no origins configured nothing changes: same origin only.

``CORS_ALLOW_ALL_ORIGINS`` is not a list of trusted origins. For an origin it alone
admits, a hub endpoint allows credentials only on requests that carry an access token
(``Authorization: Bearer``, or ``access_token`` on a GET), whose user is the token's and
never the cookie's; every other request from it gets ``*`` without credentials, which a
browser will not let a page read if the request carried cookies. ASP.NET Core refuses
``AllowAnyOrigin`` with ``AllowCredentials`` outright; this keeps token clients working.

It runs outside Django because cors-headers' middleware answers preflights before any
view (or view decorator) is reached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from corsheaders.conf import conf as cors_conf

from ..server.endpoints import find_served
from ..server.scope import query_value, scope_header, scope_path, scope_query
from .auth import QUERY_PARAM, InvalidTokenError, raw_token_from_header
from .auth import _header_name as header_name
from .origins import allows_all_origins, is_listed_origin

#: What the SignalR clients send (spec 1.2, 2.2 and 2.3); DELETE ends a long poll.
REQUIRED_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
REQUIRED_HEADERS = ("x-requested-with", "x-signalr-user-agent", "authorization", "content-type")

#: The endpoints under a hub's path: ``negotiate``, and ``refresh`` (a live connection's new token).
HUB_SUBPATHS = ("negotiate", "refresh")

_REPLACED = {b"access-control-allow-origin", b"access-control-allow-credentials"}


def is_hub_http_path(path: str) -> bool:
    """``path`` is a hub's negotiate or refresh URL, or the hub URL itself (SSE, long polling, sends)."""
    path = path.strip("/")
    if find_served(path) is not None:
        return True
    hub_path, _, last = path.rpartition("/")
    return last in HUB_SUBPATHS and find_served(hub_path) is not None


def _merged(configured: Iterable[str], required: Iterable[str], upper: bool) -> str:
    values: list[str] = []
    for value in (*configured, *required):
        value = value.upper() if upper else value.lower()
        if value not in values:
            values.append(value)
    return ", ".join(values)


def allowed_methods() -> str:
    return _merged(cors_conf.CORS_ALLOW_METHODS, REQUIRED_METHODS, upper=True)


def allowed_headers() -> str:
    return _merged(cors_conf.CORS_ALLOW_HEADERS, REQUIRED_HEADERS, upper=False)


def _with_vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    for name, value in headers:
        if name.lower() == b"vary" and b"origin" in [v.strip().lower() for v in value.split(b",")]:
            return headers
    return [*headers, (b"vary", b"origin")]


ANY_ORIGIN = b"*"


def _grant(origin: bytes) -> list[tuple[bytes, bytes]]:
    """The origin echoed with credentials, or ``*`` (which never allows credentials)."""
    if origin == ANY_ORIGIN:
        return [(b"access-control-allow-origin", ANY_ORIGIN)]
    return [(b"access-control-allow-origin", origin), (b"access-control-allow-credentials", b"true")]


def carries_token(scope: dict[str, Any]) -> bool:
    """The request authenticates by access token, as ``auth.request_raw_token`` reads it.

    A malformed ``Authorization: Bearer`` value counts: that request is answered 401.
    """
    if scope["method"] == "GET" and query_value(scope_query(scope), QUERY_PARAM):
        return True
    try:
        return raw_token_from_header(scope_header(scope, header_name())) is not None
    except InvalidTokenError:
        return True


def preflight_asks_for_token(scope: dict[str, Any]) -> bool:
    requested = scope_header(scope, b"access-control-request-headers") or ""
    return header_name().decode("latin-1") in {name.strip().lower() for name in requested.split(",")}


def preflight_headers(origin: bytes, scope: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    headers = [
        *_grant(origin),
        (b"access-control-allow-methods", allowed_methods().encode("latin-1")),
        (b"access-control-allow-headers", allowed_headers().encode("latin-1")),
        (b"vary", b"origin"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"0"),
    ]
    if cors_conf.CORS_PREFLIGHT_MAX_AGE:
        headers.append((b"access-control-max-age", str(cors_conf.CORS_PREFLIGHT_MAX_AGE).encode()))
    if (
        cors_conf.CORS_ALLOW_PRIVATE_NETWORK
        and scope_header(scope, b"access-control-request-private-network") == "true"
    ):
        headers.append((b"access-control-allow-private-network", b"true"))
    return headers


def response_headers(origin: bytes, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """cors-headers' answer, with the origin and credentials SignalR clients need (``*``: none)."""
    kept = [(name, value) for name, value in headers if name.lower() not in _REPLACED]
    kept += _grant(origin)
    if cors_conf.CORS_EXPOSE_HEADERS and not any(n.lower() == b"access-control-expose-headers" for n, _ in kept):
        kept.append((b"access-control-expose-headers", ", ".join(cors_conf.CORS_EXPOSE_HEADERS).encode("latin-1")))
    return _with_vary_origin(kept)


class HubsCorsMiddleware:
    """ASGI wrapper around the HTTP application (``get_asgi_application`` installs it)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not is_hub_http_path(scope_path(scope)):
            return await self.app(scope, receive, send)
        origin = scope_header(scope, b"origin")
        if origin is None:
            return await self.app(scope, receive, send)
        preflight = scope["method"] == "OPTIONS" and scope_header(scope, b"access-control-request-method") is not None
        if is_listed_origin(origin):
            raw_origin = origin.encode("latin-1")
        elif not allows_all_origins():
            return await self.app(scope, receive, send)
        elif preflight_asks_for_token(scope) if preflight else carries_token(scope):
            raw_origin = origin.encode("latin-1")
        else:
            raw_origin = ANY_ORIGIN
        if preflight:
            await send({"type": "http.response.start", "status": 200, "headers": preflight_headers(raw_origin, scope)})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": response_headers(raw_origin, message.get("headers", ()))}
            await send(message)

        await self.app(scope, receive, send_with_cors)
