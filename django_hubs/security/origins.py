"""Which browser origins may open a WebSocket, from django-cors-headers' own settings.

CORS does not cover WebSockets: a browser opens a socket to any site and sends that
site's cookies along, so a page elsewhere could act as the logged-in user
(cross-site WebSocket hijacking). The browser does send ``Origin``, and this module
decides on it with the lists the site already keeps for CORS: ``CORS_ALLOWED_ORIGINS``,
``CORS_ALLOWED_ORIGIN_REGEXES`` or ``CORS_ALLOW_ALL_ORIGINS``, plus the site's own origin
(the ``Host`` the request came to, when ``ALLOWED_HOSTS`` accepts it). A request without
``Origin`` comes from a non-browser client, which can send any header it likes anyway,
and is let through, as ASP.NET Core's ``AllowedOrigins`` check does.

``CORS_ALLOW_ALL_ORIGINS`` lets any origin in, but not with the visitor's cookies: a
foreign page may open a hub socket with a token it holds itself (browsers never add one
on their own), or anonymously, and its upgrade reaches the app with no ``Cookie`` header;
one that carries the session cookie and no token is refused, since that cookie would be
its only credential. Origins listed in ``CORS_ALLOWED_ORIGINS`` or the regexes stay
trusted with cookies whatever ``CORS_ALLOW_ALL_ORIGINS`` says.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from corsheaders.conf import conf as cors_conf
from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host

from ..server.scope import deny, scope_header, scope_host, scope_path

logger = logging.getLogger("django_hubs.origins")

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


@dataclass(frozen=True, slots=True)
class OriginDecision:
    allowed: bool
    reason: str
    #: The page may act with the visitor's cookies (listed or same origin, or no browser).
    cookies: bool = True


@functools.cache
def _cors_matcher() -> CorsMiddleware:
    """cors-headers' own origin matching, so both checks read the lists the same way."""
    return CorsMiddleware(lambda request: None)


def allows_all_origins() -> bool:
    return bool(cors_conf.CORS_ALLOW_ALL_ORIGINS)


def is_listed_origin(origin: str) -> bool:
    """``origin`` is named by ``CORS_ALLOWED_ORIGINS`` or ``CORS_ALLOWED_ORIGIN_REGEXES``: trusted with cookies.

    ``CORS_ALLOW_ALL_ORIGINS`` is not a listing: see :func:`allows_all_origins`.
    """
    try:
        url = urlsplit(origin)
    except ValueError:
        return False
    return _cors_matcher().origin_found_in_white_lists(origin, url)


def allowed_hosts() -> list[str]:
    """``ALLOWED_HOSTS`` as Django applies it (with DEBUG's localhost defaults)."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _canonical_host(name: str) -> str:
    """A host name for comparison: lower case, no trailing dot, IPv6 literals without brackets, compressed.

    ``Host: [::1]:8000`` and ``Origin: http://[::1]:8000`` name the same host, although
    ``urlsplit`` drops the brackets that ``split_domain_port`` keeps.
    """
    name = name.lower().rstrip(".")
    bare = name.removeprefix("[").removesuffix("]")
    if bare != name or ":" in bare:
        try:
            return str(ipaddress.IPv6Address(bare))
        except ValueError:
            return bare
    return name


def _same_site(url: SplitResult, host: str) -> bool:
    """``url`` (an origin) names the host and port the request was sent to.

    The scheme is not compared: behind a TLS-terminating proxy the socket is ``ws``
    while the page is ``https``. An implicit port on either side means the default one
    (so ``Origin: http://host`` is not ``Host: host:8000``: browsers always send the port).
    """
    domain, port = split_domain_port(host)
    if not domain or url.hostname is None:
        return False
    try:
        origin_port = url.port
    except ValueError:
        return False
    if _canonical_host(domain) != _canonical_host(url.hostname):
        return False
    default = DEFAULT_PORTS.get(url.scheme)
    if not port:
        return origin_port is None or origin_port == default
    return int(port) == (origin_port if origin_port is not None else default)


def check_origin(origin: str | None, host: str | None) -> OriginDecision:
    """May a WebSocket upgrade that sent ``Origin: origin`` to ``Host: host`` go ahead?"""
    if origin is None:
        return OriginDecision(True, "no Origin header (not a browser)")
    if is_listed_origin(origin):
        return OriginDecision(True, "origin allowed by the CORS settings")
    try:
        url = urlsplit(origin)
    except ValueError:
        url = None
    if url is not None and host and _same_site(url, host):
        if validate_host(split_domain_port(host)[0], allowed_hosts()):
            return OriginDecision(True, "same origin")
        if not allows_all_origins():
            return OriginDecision(False, "same origin, but the host is not in ALLOWED_HOSTS")
    if allows_all_origins():
        return OriginDecision(True, "any origin (CORS_ALLOW_ALL_ORIGINS), without the visitor's cookies", cookies=False)
    if url is None:
        return OriginDecision(False, "the Origin header is not a URL")
    return OriginDecision(
        False, "neither listed in CORS_ALLOWED_ORIGINS / CORS_ALLOWED_ORIGIN_REGEXES nor this site's own origin"
    )


def has_session_cookie(scope: dict[str, Any]) -> bool:
    """The request carries Django's session cookie (``SESSION_COOKIE_NAME``), whatever its value."""
    cookies = scope_header(scope, b"cookie")
    if not cookies:
        return False
    return settings.SESSION_COOKIE_NAME in parse_cookie(cookies)


def without_cookies(scope: dict[str, Any]) -> dict[str, Any]:
    """``scope`` with no ``Cookie`` header: the session middleware below sees an anonymous visitor."""
    return {**scope, "headers": [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"cookie"]}


def carries_hub_token(scope: dict[str, Any]) -> bool:
    """A hub upgrade with an access token, which the token middleware, not the cookie, will authenticate.

    A malformed ``Authorization`` value counts: that upgrade is refused with a 401 below.
    Other WebSocket paths never count: the token middleware does not look at them.
    """
    from ..server.endpoints import find_served
    from .auth import InvalidTokenError, scope_raw_token

    if find_served(scope_path(scope)) is None:
        return False
    try:
        return scope_raw_token(scope) is not None
    except InvalidTokenError:
        return True


class OriginCheckMiddleware:
    """Refuse (403) WebSocket upgrades from origins the site does not trust, before any app code runs."""

    def __init__(self, inner: Callable[..., Awaitable[None]]) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            origin = scope_header(scope, b"origin")
            decision = check_origin(origin, scope_host(scope))
            if decision.allowed and not decision.cookies:
                if has_session_cookie(scope) and not carries_hub_token(scope):
                    decision = OriginDecision(
                        False,
                        "CORS_ALLOW_ALL_ORIGINS trusts no origin with the session cookie, and the upgrade "
                        "carries no access token; list the origin in CORS_ALLOWED_ORIGINS to trust it",
                    )
                else:
                    scope = without_cookies(scope)
            if not decision.allowed:
                logger.warning(
                    "websocket refused on %s: origin %r not allowed (%s)", scope.get("path"), origin, decision.reason
                )
                await receive()  # websocket.connect
                await deny(scope, send, 403, "Forbidden")
                return
        await self.inner(scope, receive, send)
