"""Who is connecting: a simplejwt access token if one was sent, else the session, else anonymous.

Where the token travels depends on the client (spec 2.5): browsers cannot set headers
on a WebSocket or an ``EventSource``, so they put it in the ``access_token`` query
parameter of those GET requests; every other request (negotiate, sends, long polls,
Node's WebSockets) carries ``Authorization: Bearer``. Validation is simplejwt's own
``JWTAuthentication`` pipeline (``get_raw_token`` -> ``get_validated_token`` ->
``get_user``) under its ``SIMPLE_JWT`` settings: no second JWT decoder.

A token that is present but invalid, forged or expired is refused (401, or the
upgrade refused), never downgraded to the session user or to anonymous: a client
whose token went stale must learn it and fetch a new one. The token's ``exp`` is kept
so that the connection closes when it expires (``HUBS_CLOSE_ON_TOKEN_EXPIRY``).
Nothing here logs a token; refusals log the reason simplejwt gives.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.auth import AuthMiddleware, UserLazyObject, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.http import HttpRequest, HttpResponse
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.settings import api_settings

from ..server.endpoints import find_served
from ..server.scope import deny, query_value, request_user, scope_header, scope_path, scope_query
from ..server.threads import run_auth

logger = logging.getLogger("django_hubs.auth")

#: The query parameter browsers use for WebSockets and Server-Sent Events.
QUERY_PARAM = "access_token"


class InvalidTokenError(Exception):
    """A token was sent and refused. The message says why, never what the token was."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The user a request authenticated as, and when that stops being true."""

    user: Any
    #: Until when simplejwt accepts the token (``exp`` plus ``LEEWAY``), as a ``time.time()`` value;
    #: ``None`` for session users.
    expires_at: float | None = None


def _reason(exc: Exception) -> str:
    """simplejwt's explanation ("Token is expired", "User not found"), which never quotes the token."""
    detail = getattr(exc, "detail", None)
    if isinstance(detail, dict):
        messages = detail.get("messages") or ()
        if messages and isinstance(messages[0], dict) and messages[0].get("message"):
            return str(messages[0]["message"])
        return str(detail.get("detail", "invalid token"))
    if detail:
        return str(detail)
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _authenticator() -> JWTAuthentication:
    return JWTAuthentication()


def raw_token_from_header(value: bytes | str | None) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` value; ``None`` for other schemes.

    A bare ``Bearer`` (a client whose token factory returned nothing) counts as no token.
    """
    if not value:
        return None
    if isinstance(value, str):
        value = value.encode("latin-1")
    if len(value.split()) == 1:
        return None
    try:
        return _authenticator().get_raw_token(value)
    except AuthenticationFailed as exc:
        raise InvalidTokenError(_reason(exc)) from None


def validate_token(raw_token: bytes) -> Identity:
    """Validate with simplejwt and load the user (a database query: call from a thread)."""
    authenticator = _authenticator()
    try:
        token = authenticator.get_validated_token(raw_token)
        user = authenticator.get_user(token)
    except (AuthenticationFailed, TokenError) as exc:
        raise InvalidTokenError(_reason(exc)) from None
    exp = token.get("exp")
    if exp is None:
        return Identity(user)
    # simplejwt accepts the token until exp + LEEWAY: the connection lasts as long, not less,
    # or a just-expired token within LEEWAY is accepted and closed at once, again and again.
    leeway = token.get_token_backend().get_leeway().total_seconds()
    return Identity(user, float(exp) + leeway)


async def _validate_token_async(raw_token: bytes) -> Identity:
    """In the authentication threads: a connect never waits behind sync hub methods."""
    return await run_auth(validate_token, raw_token)


# --- ASGI scopes (WebSocket upgrades) -------------------------------------------------


def _header_name() -> bytes:
    """simplejwt's ``AUTH_HEADER_NAME`` (a ``META`` key) as an ASGI header name."""
    name: str = api_settings.AUTH_HEADER_NAME
    return name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")


def scope_raw_token(scope: dict[str, Any]) -> bytes | None:
    value = query_value(scope_query(scope), QUERY_PARAM)
    if value:
        return value.encode("utf-8")
    return raw_token_from_header(scope_header(scope, _header_name()))


async def authenticate_scope(scope: dict[str, Any]) -> Identity | None:
    """The token's identity; ``None`` when no token was sent; ``InvalidTokenError`` if it is refused."""
    raw_token = scope_raw_token(scope)
    if raw_token is None:
        return None
    return await _validate_token_async(raw_token)


TOKEN_EXPIRY_KEY = "hubs_token_expires_at"
"""Scope key of the validated token's expiry; its presence says a token was already checked."""


async def with_token_identity(scope: dict[str, Any], receive: Any, send: Any) -> dict[str, Any] | None:
    """``scope`` with the user and expiry of a valid token (unchanged without one); ``None`` once refused.

    A present but invalid token is refused (401 where the server can send it), never downgraded to anonymous.
    """
    try:
        identity = await authenticate_scope(scope)
    except InvalidTokenError as exc:
        logger.warning("websocket refused on %s: invalid access token (%s)", scope_path(scope), exc)
        await receive()  # websocket.connect
        await deny(scope, send, 401, "Unauthorized")
        return None
    if identity is None:
        return scope
    return {**scope, "user": identity.user, TOKEN_EXPIRY_KEY: identity.expires_at}


class JWTAuthMiddleware:
    """Sets ``scope["user"]`` and ``scope["hubs_token_expires_at"]`` from a token on hub WebSockets.

    Other WebSocket paths (your own consumers) pass through untouched. Without a token
    the session middleware below decides, so cookie-authenticated sites keep working.
    """

    def __init__(self, inner: Callable[..., Awaitable[None]]) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket" or find_served(scope_path(scope)) is None:
            return await self.inner(scope, receive, send)
        authenticated = await with_token_identity(scope, receive, send)
        if authenticated is not None:
            await self.inner(authenticated, receive, send)


class SessionAuthMiddleware(AuthMiddleware):
    """Channels' session login, for connections that did not authenticate with a token."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        """Channels' ``get_user``, in the authentication threads rather than Channels' one shared thread."""
        user = scope["user"]
        if isinstance(user, UserLazyObject):
            user._wrapped = await run_auth(get_user.func, scope)


def HubsAuthMiddlewareStack(inner: Any) -> Any:
    """Token first, then the session cookie: what ``get_asgi_application`` puts around the hubs."""
    return JWTAuthMiddleware(CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(inner))))


# --- Django requests (negotiate, SSE, long polling, sends) -------------------------------


def request_raw_token(request: HttpRequest) -> bytes | None:
    """The query parameter on GETs (SSE streams, browsers), else the ``Authorization`` header."""
    if request.method == "GET":
        value = query_value(request.GET, QUERY_PARAM)
        if value:
            return value.encode("utf-8")
    return raw_token_from_header(_authenticator().get_header(request))


async def authenticate_request(request: HttpRequest) -> Identity | None:
    """Authenticate ``request`` by its token, once, and make that user ``request.user``.

    ``None`` when the request has no token: ``request.user`` stays the session user.
    ``InvalidTokenError`` when it has one that simplejwt refuses.
    """
    if hasattr(request, "hubs_identity"):
        identity: Identity | None = request.hubs_identity
        return identity
    raw_token = request_raw_token(request)
    identity = None if raw_token is None else await _validate_token_async(raw_token)
    request.hubs_identity = identity
    if identity is not None:
        user = identity.user

        async def auser() -> Any:
            return user

        request.user = user
        request.auser = auser
        request._hubs_user = user
        request.hubs_token_expires_at = identity.expires_at
    return identity


async def request_identity(request: HttpRequest) -> Identity:
    """``(user, expires_at)`` of a hub HTTP request: the token's, else the session's or anonymous.

    For the SSE and long-polling transports: put ``user`` and
    ``hubs_token_expires_at`` in the scope the ``HubConnection`` gets, as the WebSocket
    middleware does. Views decorated with :func:`authenticate` can equally read
    ``request.user`` and ``request.hubs_token_expires_at``. Raises ``InvalidTokenError``
    for a refused token (answer :func:`unauthorized`).
    """
    identity = await authenticate_request(request)
    if identity is not None:
        return identity
    return Identity(await request_user(request))


def unauthorized() -> HttpResponse:
    response = HttpResponse(status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def authenticate(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
    """Decorate a hub view: token users become ``request.user``; refused tokens get a 401."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            await authenticate_request(request)
        except InvalidTokenError as exc:
            logger.warning("%s %s refused: invalid access token (%s)", request.method, request.path, exc)
            return unauthorized()
        return await view(request, *args, **kwargs)

    return wrapper
