"""Hubs as Channels consumers: ``ChatHub.as_asgi()`` in a project's own ``URLRouter``.

``HubConsumer`` is an ``AsyncConsumer`` so that Channels' routing, middleware and
``WebsocketCommunicator`` treat a hub like any other consumer. Its ``__call__`` is
specialised (as Channels' own ``AsyncHttpConsumer`` specialises its base) because
``AsyncConsumer.__call__`` costs three things a hub connection does not need: a
channel-layer channel per connection (delivery goes through the in-process registry
and, across processes, one backplane channel per process), a task per event
(``await_many_dispatch``) and ``aclose_old_connections()`` in a worker thread before
every message. Stale database connections are closed around sync hub methods
(``database_sync_to_async``) and, for async methods that use the async ORM, on a
timer (:mod:`django_hubs.server.dbclose`).

The seed's protections hold wherever a hub is routed: the consumer itself refuses a
foreign ``Origin`` and authenticates a simplejwt token (``?access_token=`` or
``Authorization: Bearer``) before any hub code runs. Both are idempotent, so a
project that also puts :class:`~django_hubs.security.origins.OriginCheckMiddleware` and
:func:`~django_hubs.security.auth.HubsAuthMiddlewareStack` in its stack pays nothing twice
that costs a query. Without a token, whatever the project's middleware put in
``scope["user"]`` (``AuthMiddlewareStack``'s session user, its own token
middleware) is the connection's user.
"""

from __future__ import annotations

from typing import Any

from channels.consumer import AsyncConsumer
from channels.sessions import InstanceSessionWrapper
from django.core.signals import setting_changed

from .connections import ConnectionHandler
from .hub import Hub, serve_as_consumer
from .security.auth import TOKEN_EXPIRY_KEY, with_token_identity
from .security.origins import OriginCheckMiddleware
from .server import dbclose
from .server.endpoints import (
    Endpoint,
    HandlerEndpoint,
    HubEndpoint,
    endpoints,
    find_endpoint,
    find_served,
    handler_endpoints,
    hub_options,
    lifetime_for,
    normalize_path,
)
from .server.scope import RAW_SEND, deny, scope_path
from .transports.websocket import WebSocketTransport

_transport = WebSocketTransport()
_unlisted: dict[type[Hub], HubEndpoint] = {}
_unlisted_handlers: dict[type[ConnectionHandler], HandlerEndpoint] = {}


def endpoint_for(hub: type[Hub], path: str) -> HubEndpoint:
    """The ``HUBS`` entry serving ``hub`` at ``path``, else any entry of ``hub``, else its defaults.

    Negotiated connections are found by endpoint, so a hub mounted at the path it is
    listed under in ``HUBS`` must share that entry (and its per-hub options).
    """
    endpoint = find_endpoint(path)
    if endpoint is not None and endpoint.hub_class is hub:
        return endpoint
    for endpoint in endpoints().values():
        if endpoint.hub_class is hub:
            return endpoint
    endpoint = _unlisted.get(hub)
    if endpoint is None:
        # Not in HUBS: WebSockets with skipNegotiation only (negotiate, SSE and long polling
        # are served from HUBS by django_hubs.urls); the global settings apply.
        endpoint = _unlisted[hub] = HubEndpoint(normalize_path(path), hub, hub_options({}), lifetime_for(hub))
    return endpoint


def handler_endpoint_for(handler: type[ConnectionHandler], path: str) -> HandlerEndpoint:
    """As :func:`endpoint_for`, for a connection handler."""
    found = handler_endpoints()
    endpoint = found.get(normalize_path(path))
    if endpoint is not None and endpoint.handler_class is handler:
        return endpoint
    for endpoint in found.values():
        if endpoint.handler_class is handler:
            return endpoint
    endpoint = _unlisted_handlers.get(handler)
    if endpoint is None:
        endpoint = _unlisted_handlers[handler] = HandlerEndpoint(normalize_path(path), handler, hub_options({}))
    return endpoint


def _forget_unlisted(*, setting: str, **kwargs: Any) -> None:
    if setting == "HUBS" or setting.startswith("HUBS_"):
        _unlisted.clear()
        _unlisted_handlers.clear()


setting_changed.connect(_forget_unlisted)


def unwrapped_send(send: Any) -> Any:
    """The server's own ``send`` below Channels' session wrappers, which do nothing for WebSockets.

    ``SessionMiddleware`` wraps ``send`` to save the session and set its cookie on HTTP
    responses (``save_message_types``); on a WebSocket the wrapper only costs time on
    every frame. WebSocket sessions are saved explicitly (``session.asave()``).
    """
    while True:
        wrapper = getattr(send, "__self__", None)
        if not isinstance(wrapper, InstanceSessionWrapper) or send.__func__ is not InstanceSessionWrapper.send:
            return send
        if any(kind.startswith("websocket.") for kind in wrapper.save_message_types):
            return send
        send = wrapper.real_send


class HubConsumer(AsyncConsumer):
    """Serves one hub over WebSockets: ``HubConsumer.as_asgi(hub=ChatHub)``, or ``ChatHub.as_asgi()``.

    ``hub`` may be a :class:`~django_hubs.connections.ConnectionHandler` too (``EchoHandler.as_asgi()``).
    """

    hub: type[Hub] | type[ConnectionHandler] | None = None

    def __init__(
        self, hub: type[Hub] | type[ConnectionHandler] | None = None, endpoint: Endpoint | None = None
    ) -> None:
        if hub is not None:
            self.hub = hub
        if self.hub is None and endpoint is not None:
            self.hub = endpoint.hub_class if isinstance(endpoint, HubEndpoint) else endpoint.handler_class
        self.endpoint = endpoint

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Any:
        """Channels' ``as_asgi``, checking ``hub`` when the route is defined rather than per connection."""
        hub = initkwargs.get("hub", cls.hub)
        if not (isinstance(hub, type) and issubclass(hub, Hub | ConnectionHandler)):
            raise TypeError(
                f"{cls.__name__}.as_asgi() needs hub=<a django_hubs.Hub subclass> "
                f"(or a django_hubs.connections.ConnectionHandler subclass), not {hub!r}."
            )
        unknown = set(initkwargs) - {"hub"}
        if unknown:
            raise TypeError(f"{cls.__name__}.as_asgi() takes only hub=, not {sorted(unknown)}.")
        return super().as_asgi(**initkwargs)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        if scope["type"] != "websocket":
            raise ValueError(f"{type(self).__name__} serves WebSocket scopes, not {scope['type']!r} ones.")
        # The same origin check as in front of get_asgi_application(), wherever the hub is routed.
        await OriginCheckMiddleware(self._authenticated)(scope, receive, send)

    async def _authenticated(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert self.hub is not None  # as_asgi() checked it
        endpoint = self.endpoint
        if endpoint is None:
            path = scope_path(scope)
            if issubclass(self.hub, Hub):
                endpoint = endpoint_for(self.hub, path)
            else:
                endpoint = handler_endpoint_for(self.hub, path)
        if TOKEN_EXPIRY_KEY not in scope:  # no JWTAuthMiddleware validated a token above us
            authenticated = await with_token_identity(scope, receive, send)
            if authenticated is None:
                return
            scope = authenticated
        dbclose.ensure_running()
        if RAW_SEND not in scope:
            scope = {**scope, RAW_SEND: unwrapped_send(send)}
        await _transport.serve(endpoint, scope, receive, send)


class HubRouter:
    """Every hub in ``HUBS`` at its path, read per connection (so ``override_settings`` works).

    What :func:`django_hubs.asgi.get_asgi_application` routes WebSockets to; other paths
    go to ``fallback`` (your own consumers), else are refused with a 404.
    """

    def __init__(self, fallback: Any = None) -> None:
        self.fallback = fallback

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        endpoint = find_served(scope_path(scope))
        if endpoint is not None:
            return await HubConsumer(endpoint=endpoint)(scope, receive, send)
        if self.fallback is not None:
            return await self.fallback(scope, receive, send)
        await receive()
        await deny(scope, send, 404, "No hub at this path")


serve_as_consumer(HubConsumer.as_asgi)  # what Hub.as_asgi() and ConnectionHandler.as_asgi() return

__all__ = ["HubConsumer", "HubRouter"]
