"""The ASGI application: HTTP to Django, WebSockets through the checks to the hubs."""

from __future__ import annotations

from typing import Any

from .server.scope import RAW_SEND


def get_asgi_application(websocket: Any = None, http: Any = None) -> Any:
    """``ProtocolTypeRouter`` serving Django over HTTP and every hub in ``HUBS`` over WebSockets.

    ``websocket`` is an optional ASGI app for WebSocket paths that are not hubs (your own
    consumers, e.g. ``URLRouter(websocket_urlpatterns)``); ``http`` replaces Django's own
    ASGI handler. Either may be a dotted path (``"mysite.routing.websocket_app"``), imported
    after ``django.setup()``: an app passed as an object was built, with the consumers and
    models it imports, before Django was set up. Projects with their own ``asgi.py`` route
    ``ChatHub.as_asgi()`` in their ``URLRouter`` instead (README, "Add to an existing
    Channels project"); this is the same stack: the origin check, a JWT, then the session.
    """
    import django
    from django.apps import apps

    # Once: each django.setup() re-applies LOGGING with new handler objects (Django's own
    # get_asgi_application() would run a second one, runserver has run one already).
    if not apps.ready:
        django.setup(set_prefix=False)
    if http is None:
        from django.core.handlers.asgi import ASGIHandler

        http = ASGIHandler()
    http_app = http

    from channels.routing import ProtocolTypeRouter
    from django.utils.module_loading import import_string

    from .consumer import HubRouter
    from .security.auth import HubsAuthMiddlewareStack
    from .security.cors import HubsCorsMiddleware
    from .security.origins import OriginCheckMiddleware

    if isinstance(http_app, str):
        http_app = import_string(http_app)
    if isinstance(websocket, str):
        websocket = import_string(websocket)
    return ProtocolTypeRouter(
        {
            # CORS for negotiate and the hub paths; the rest of the site keeps cors-headers' answer.
            "http": HubsCorsMiddleware(http_app),
            # Origin check, then a JWT, then the session cookie, before any hub code runs; each
            # hub path to its HubConsumer, other paths to ``websocket``.
            "websocket": keep_raw_send(OriginCheckMiddleware(HubsAuthMiddlewareStack(HubRouter(fallback=websocket)))),
        }
    )


def keep_raw_send(app: Any) -> Any:
    """Let the WebSocket transport write frames with the server's own ``send``.

    Channels' session middleware wraps ``send`` to set cookies on HTTP responses; on a
    WebSocket that wrapper only costs time on every frame (WebSocket sessions are saved
    explicitly), so the transport bypasses it once the socket is accepted.
    """

    async def with_raw_send(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await app({**scope, RAW_SEND: send}, receive, send)

    with_raw_send.inner = app  # type: ignore[attr-defined]  # for the routing checks
    return with_raw_send


__all__ = ["get_asgi_application", "keep_raw_send"]
