"""The hubs listed in ``settings.HUBS``, their options and their lifetime managers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ..clients import GroupManager, HubClients
from ..conf import HubOptions
from ..connections import ConnectionHandler
from ..hub import Hub, Requirement
from .filtering import load_filters
from .lifetime import HubLifetimeManager


def hub_options(overrides: dict[str, Any] | None = None) -> HubOptions:
    """A hub's options with its filters built, once per endpoint rather than per connection."""
    options = HubOptions.load(overrides)
    return replace(options, filters=load_filters(options.filters))


@dataclass(frozen=True, slots=True)
class HubEndpoint:
    path: str  # without leading or trailing slash
    hub_class: type[Hub]
    options: HubOptions
    lifetime: HubLifetimeManager

    @property
    def authorization(self) -> tuple[Requirement, ...]:
        return self.hub_class.authorization

    def user_identifier(self, user: Any) -> str | None:
        return self.hub_class.get_user_identifier(user)


@dataclass(frozen=True, slots=True)
class HandlerEndpoint:
    """A :class:`~django_hubs.connections.ConnectionHandler` in ``HUBS``: the transports without the hub protocol."""

    path: str  # without leading or trailing slash
    handler_class: type[ConnectionHandler]
    options: HubOptions

    @property
    def authorization(self) -> tuple[Requirement, ...]:
        return self.handler_class.authorization

    def user_identifier(self, user: Any) -> str | None:
        return self.handler_class.get_user_identifier(user)


#: What negotiate and the transports serve at a path.
Endpoint = HubEndpoint | HandlerEndpoint

_endpoints: dict[str, HubEndpoint] | None = None
_handlers: dict[str, HandlerEndpoint] = {}
_lifetimes: dict[type[Hub], HubLifetimeManager] = {}


def normalize_path(path: str) -> str:
    return path.strip("/")


def _load_hub(value: Any) -> tuple[type[Hub] | type[ConnectionHandler], dict[str, Any]]:
    overrides: dict[str, Any] = {}
    if isinstance(value, dict):
        overrides = {k: v for k, v in value.items() if k != "hub"}
        value = value.get("hub")
    hub_class = import_string(value) if isinstance(value, str) else value
    if not (isinstance(hub_class, type) and issubclass(hub_class, Hub | ConnectionHandler)):
        raise ImproperlyConfigured(
            f"HUBS: {value!r} is not a django_hubs.Hub or django_hubs.connections.ConnectionHandler subclass."
        )
    return hub_class, overrides


def lifetime_for(hub_class: type[Hub]) -> HubLifetimeManager:
    """One lifetime manager per hub class, shared by every path it is mounted at."""
    lifetime = _lifetimes.get(hub_class)
    if lifetime is None:
        lifetime = _lifetimes[hub_class] = HubLifetimeManager(f"{hub_class.__module__}.{hub_class.__qualname__}")
    return lifetime


def endpoints() -> dict[str, HubEndpoint]:
    """The hubs in ``HUBS`` by path; the connection handlers listed there are in :func:`handler_endpoints`."""
    global _endpoints
    if _endpoints is None:
        found = {}
        handlers = {}
        for path, value in getattr(settings, "HUBS", {}).items():
            app_class, overrides = _load_hub(value)
            path = normalize_path(path)
            if issubclass(app_class, Hub):
                found[path] = HubEndpoint(path, app_class, hub_options(overrides), lifetime_for(app_class))
            else:
                handlers[path] = HandlerEndpoint(path, app_class, hub_options(overrides))
        _handlers.clear()
        _handlers.update(handlers)
        _endpoints = found
    return _endpoints


def handler_endpoints() -> dict[str, HandlerEndpoint]:
    endpoints()
    return _handlers


def find_endpoint(path: str) -> HubEndpoint | None:
    """The hub at ``path``; see :func:`find_served` for anything negotiate and the transports serve."""
    return endpoints().get(normalize_path(path))


def find_served(path: str) -> Endpoint | None:
    """The hub or connection handler at ``path``."""
    path = normalize_path(path)
    return endpoints().get(path) or _handlers.get(path)


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _endpoints
    if setting == "HUBS" or setting.startswith("HUBS_"):
        _endpoints = None


setting_changed.connect(_reset)


class HubContext:
    """Clients and groups of a hub, for code that runs outside it (views, tasks, commands)."""

    __slots__ = ("_lifetime", "clients", "groups")

    def __init__(self, lifetime: HubLifetimeManager) -> None:
        self._lifetime = lifetime
        self.clients = HubClients(lifetime)
        self.groups = GroupManager(lifetime)

    async def abort(self, connection_id: str) -> None:
        """End ``connection_id`` for good, as its hub's ``self.context.abort()`` would: no reconnect.

        Reaches the connection on whichever process holds it (with a shared channel layer);
        a connection that does not exist (any more) is no error, as with ``clients.client(id)``.
        """
        await self._lifetime.abort(str(connection_id))


def get_hub_context(hub: type[Hub] | str) -> HubContext:
    """The clients and groups of ``hub`` (a class, a dotted path or a path listed in ``HUBS``)."""
    if isinstance(hub, str):
        endpoint = find_endpoint(hub)
        hub = endpoint.hub_class if endpoint is not None else import_string(hub)
    if not (isinstance(hub, type) and issubclass(hub, Hub)):
        raise TypeError(f"get_hub_context() needs a Hub subclass, not {hub!r}.")
    return HubContext(lifetime_for(hub))
