"""Where an ASGI application sends a WebSocket for a path, read from its structure, for the checks.

A hub whose WebSocket path reaches no hub still works over Server-Sent Events (the
clients fall back without a word), so ``manage.py check`` has to say so. Nothing is
called: the walk follows what Channels' and django-hubs' own parts expose
(``ProtocolTypeRouter.application_mapping``, ``URLRouter.routes``, middleware's
``inner``/``application``/``app``, ``as_asgi()``'s ``consumer_class``) and answers
"unknown" where it cannot see further, so a project's own opaque middleware never
causes a false error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import OriginValidator
from django.core.exceptions import ImproperlyConfigured

from ..connections import ConnectionHandler
from ..hub import Hub
from ..server.endpoints import HubEndpoint, find_served

#: Attribute names under which middleware keeps the application it wraps.
INNER_NAMES = ("inner", "application", "app")
MAX_DEPTH = 64


@dataclass(slots=True)
class WebSocketRoute:
    """What serves a WebSocket at one path: ``kind`` is "hub", "other", "nothing" or "unknown"."""

    kind: str
    #: The hub class (kind "hub"), or a description of what answers instead.
    hub: type[Hub] | type[ConnectionHandler] | None = None
    detail: str = ""
    #: Channels' ``OriginValidator`` met on the way (it refuses clients that send no ``Origin``).
    origin_validator: bool = False
    passed: list[str] = field(default_factory=list)


def _name(app: Any) -> str:
    return getattr(app, "__qualname__", None) or type(app).__qualname__


def websocket_route(app: Any, path: str) -> WebSocketRoute:
    """Follow a ``websocket`` scope for ``path`` (below any ``root_path``) through ``app``."""
    from ..consumer import HubConsumer, HubRouter
    from ..transports.websocket import WebSocketTransport

    route = WebSocketRoute("unknown")
    remaining = path.lstrip("/")
    for _ in range(MAX_DEPTH):
        if isinstance(app, ProtocolTypeRouter):
            inner = app.application_mapping.get("websocket")
            if inner is None:
                route.kind, route.detail = "nothing", "the ProtocolTypeRouter has no 'websocket' entry"
                return route
            app = inner
            continue
        consumer = getattr(app, "consumer_class", None)
        if isinstance(consumer, type):
            if issubclass(consumer, HubConsumer):
                route.kind = "hub"
                route.hub = getattr(app, "consumer_initkwargs", {}).get("hub", consumer.hub)
            else:
                route.kind, route.detail = "other", f"the consumer {consumer.__qualname__}"
            return route
        if isinstance(app, HubRouter | WebSocketTransport):
            try:
                endpoint = find_served(remaining)
            except (ImportError, ImproperlyConfigured):  # a bad HUBS entry: E002 names it
                route.detail = "HUBS, which cannot be loaded"
                return route
            if endpoint is not None:
                route.kind = "hub"
                route.hub = endpoint.hub_class if isinstance(endpoint, HubEndpoint) else endpoint.handler_class
                return route
            if app.fallback is None:
                route.kind, route.detail = "nothing", "HUBS has no such path"
                return route
            app = app.fallback
            continue
        if isinstance(app, URLRouter):
            for candidate in app.routes:
                match = candidate.pattern.match(remaining)
                if match:
                    remaining = match[0]
                    app = candidate.callback
                    break
            else:
                route.kind, route.detail = "nothing", "no route (the websocket URLRouter matches none)"
                return route
            continue
        if isinstance(app, OriginValidator):
            route.origin_validator = True
        inner = next((getattr(app, name) for name in INNER_NAMES if getattr(app, name, None) is not None), None)
        if inner is None or inner is app:
            route.detail = f"{_name(app)}, which the check cannot see into"
            return route
        route.passed.append(_name(app))
        app = inner
    route.detail = "the application nests too deep to follow"
    return route
