"""The ``Hub`` base class, its method table and ``@authorize``."""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from .clients import GroupManager, HubCallerClients


def fold(name: str) -> str:
    """How clients name methods: ``send_message`` = ``SendMessage`` = ``sendmessage``."""
    return name.replace("_", "").lower()


# --- authorization ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """What one ``@authorize`` asks of the user; ``server.authorization`` decides it."""

    perms: tuple[str, ...] = ()
    test: Callable[[Any], Any] | None = None


def authorize(
    target: Any = None, *, perms: collections.abc.Iterable[str] = (), test: Callable[[Any], Any] | None = None
) -> Any:
    """Require an authenticated user (and ``perms``, and ``test(user)``) for a hub or a method.

    Usable bare (``@authorize``) or called (``@authorize()``, ``@authorize(perms=[...])``).
    Several decorators stack: every requirement must hold.
    """
    requirement = Requirement(tuple(perms), test)

    def decorate(obj: Any) -> Any:
        if isinstance(obj, type):
            obj.authorization = (*obj.__dict__.get("authorization", ()), requirement)  # type: ignore[attr-defined]
        else:
            obj.__hub_authorization__ = (*getattr(obj, "__hub_authorization__", ()), requirement)
        return obj

    if target is not None and (isinstance(target, type) or callable(target)):
        return decorate(target)
    return decorate


# --- method table -------------------------------------------------------------------


def _is_stream_hint(hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    return origin in (collections.abc.AsyncIterator, collections.abc.AsyncIterable, collections.abc.AsyncGenerator)


@dataclass(slots=True)
class HubMethod:
    """What the dispatcher needs to know of one callable hub method."""

    name: str
    function: Callable[..., Any]
    is_async: bool
    is_stream: bool
    parameters: list[inspect.Parameter]
    hints: list[Any]
    stream_parameters: list[int]
    required: int
    accepts_any_count: bool
    requirements: tuple[Requirement, ...] = field(default_factory=tuple)
    #: ``(parameter position, converter or None when untyped)`` per wire argument, built on
    #: first call by the dispatcher (converters live in ``binding``, which imports this module).
    binders: tuple[tuple[int, Callable[[Any], Any] | None], ...] | None = None
    #: No wire argument is typed: arguments pass through as they are.
    untyped: bool = False

    @property
    def argument_count(self) -> int:
        return len(self.parameters) - len(self.stream_parameters)

    @classmethod
    def build(cls, name: str, function: Callable[..., Any]) -> HubMethod:
        signature = inspect.signature(function)
        parameters = list(signature.parameters.values())[1:]  # self
        try:
            resolved = typing.get_type_hints(function)
        except Exception:  # unresolvable forward references: check nothing
            resolved = {}
        accepts_any = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
        parameters = [
            p
            for p in parameters
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)
        ]
        hints = [resolved.get(p.name, inspect.Parameter.empty) for p in parameters]
        streams = [i for i, hint in enumerate(hints) if _is_stream_hint(hint)]
        required = sum(1 for i, p in enumerate(parameters) if p.default is inspect.Parameter.empty and i not in streams)
        return cls(
            name=name,
            function=function,
            is_async=inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function),
            is_stream=inspect.isasyncgenfunction(function) or _is_stream_hint(resolved.get("return")),
            parameters=parameters,
            hints=hints,
            stream_parameters=streams,
            required=required,
            accepts_any_count=accepts_any,
            requirements=tuple(getattr(function, "__hub_authorization__", ())),
        )


# --- serving hubs as Channels consumers --------------------------------------------


#: ``HubConsumer.as_asgi``, registered by :mod:`django_hubs.consumer` (which the app loads in its
#: ``ready()``): the consumer is a layer above hubs, so ``Hub.as_asgi()`` reaches it through this.
_consumer_factory: Callable[..., Any] | None = None


def serve_as_consumer(factory: Callable[..., Any]) -> None:
    """Register what ``as_asgi()`` returns for a hub or a connection handler (``HubConsumer.as_asgi``)."""
    global _consumer_factory
    _consumer_factory = factory


def consumer_for(target: type) -> Any:
    """``HubConsumer.as_asgi(hub=target)``, once Django has loaded the django_hubs app."""
    if _consumer_factory is None:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"{target.__name__}.as_asgi() needs Django set up with django_hubs in INSTALLED_APPS: "
            "call get_asgi_application() (Django's or django_hubs') before importing your routing."
        )
    return _consumer_factory(hub=target)


# --- context ------------------------------------------------------------------------


class CallerConnection(Protocol):
    """What a hub's context reads of its connection (``server.connection.HubConnection`` is one).

    Declared here so that ``hub`` never imports the server layer that runs it.
    """

    connection_id: str
    user: Any
    user_identifier: str | None
    items: dict[Any, Any]
    scope: dict[str, Any]
    transport: str

    @property
    def protocol(self) -> Any: ...

    async def close(self, error: str | None = None, allow_reconnect: bool = False) -> None: ...


class HubCallerContext:
    """What a hub method knows of the connection that called it."""

    __slots__ = ("_connection",)

    def __init__(self, connection: CallerConnection) -> None:
        self._connection = connection

    @property
    def connection_id(self) -> str:
        return self._connection.connection_id

    @property
    def user(self) -> Any:
        return self._connection.user

    @property
    def user_identifier(self) -> str | None:
        return self._connection.user_identifier

    @property
    def items(self) -> dict[Any, Any]:
        return self._connection.items

    @property
    def scope(self) -> dict[str, Any]:
        return self._connection.scope

    @property
    def transport(self) -> str:
        return self._connection.transport

    @property
    def protocol(self) -> str | None:
        return self._connection.protocol.name if self._connection.protocol else None

    async def abort(self) -> None:
        """Close the connection for good, as the official ``Context.Abort()``: no reconnect."""
        await self._connection.close(allow_reconnect=False)

    def __repr__(self) -> str:
        return f"<HubCallerContext connection_id={self.connection_id!r} user={self.user_identifier!r}>"


# --- the hub ------------------------------------------------------------------------


class Hub:
    """Subclass it; public methods become callable by clients.

    One instance serves one connection for its whole life, so ``self.context`` and
    ``self.clients.caller`` always mean that connection. Keep shared state elsewhere.
    """

    #: Requirements set by ``@authorize`` on the class.
    authorization: ClassVar[tuple[Requirement, ...]] = ()
    #: Filters of this hub only, run after ``HUBS_FILTERS``: dotted paths, classes, instances
    #: or ``{"filter": ..., **options}`` dicts (see :mod:`django_hubs.filters`).
    filters: ClassVar[collections.abc.Sequence[Any]] = ()
    #: The methods this hub calls on its clients, for ``manage.py hubs_typescript``: a class
    #: (a ``typing.Protocol`` reads best) whose methods are named exactly as sent
    #: (``def ReceiveMessage(self, user: str, text: str) -> None: ...``).
    Client: ClassVar[type | None] = None
    _hub_methods: ClassVar[dict[str, HubMethod] | None] = None
    _hub_targets: ClassVar[dict[str, HubMethod] | None] = None

    context: HubCallerContext
    clients: HubCallerClients
    groups: GroupManager

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._hub_methods = None
        cls._hub_targets = None
        seen: dict[str, str] = {}
        for name in _callable_names(cls):
            folded = fold(name)
            if folded in seen:
                raise TypeError(
                    f"{cls.__qualname__}: hub methods {seen[folded]!r} and {name!r} have the same name "
                    "for clients (names are matched ignoring case and underscores)."
                )
            seen[folded] = name

    @classmethod
    def hub_methods(cls) -> dict[str, HubMethod]:
        """Folded client name -> method, built on first use so hints can be resolved."""
        table = cls.__dict__.get("_hub_methods")
        if table is None:
            table = {fold(name): HubMethod.build(name, getattr(cls, name)) for name in _callable_names(cls)}
            cls._hub_methods = table
        return table

    @classmethod
    def find_method(cls, target: str) -> HubMethod | None:
        cache = cls.__dict__.get("_hub_targets")
        if cache is None:
            cache = cls._hub_targets = {}
        method = cache.get(target)
        if method is None:
            method = cls.hub_methods().get(fold(target))
            # Only names that exist, and not without end: clients choose the spelling.
            if method is not None and len(cache) < 1024:
                cache[target] = method
        return method

    @classmethod
    def as_asgi(cls) -> Any:
        """This hub as a Channels consumer, for a ``URLRouter``: ``path("hubs/chat", ChatHub.as_asgi())``.

        The same as ``HubConsumer.as_asgi(hub=cls)``; list the hub in ``HUBS`` at the same
        path too, for negotiate, Server-Sent Events and long polling.
        """
        return consumer_for(cls)

    @classmethod
    def get_user_identifier(cls, user: Any) -> str | None:
        """How ``clients.user(...)`` names a user: the primary key, as text, by default.

        Override it to address users by another field (the role of ``IUserIdProvider``).
        """
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        pk = getattr(user, "pk", None)
        return None if pk is None else str(pk)

    async def on_connected(self) -> None:
        """Called once the handshake is done; an exception here ends the connection."""

    async def on_disconnected(self, exception: BaseException | None) -> None:
        """Called when the connection ends; ``exception`` is why, or ``None`` for a clean close."""

    async def on_authentication_refreshed(self, previous_user: Any, user: Any) -> None:
        """Called when ``POST <hub>/refresh`` brings a fresh token for this connection (``HUBS_AUTH_REFRESH``).

        ``user`` is the refreshed token's user, always the same one (``get_user_identifier``)
        as ``previous_user``: a refresh naming another user is refused before this runs.
        Here ``self.context.user`` is still ``previous_user``; it becomes ``user`` once this
        returns. Raise ``django.core.exceptions.PermissionDenied`` to refuse the refresh
        (401 ``invalid_token``): the connection keeps its user and its old expiry.
        Groups are not touched either way.
        """


_RESERVED = frozenset(name for name in dir(Hub))


def _callable_names(cls: type) -> list[str]:
    names = []
    for name in dir(cls):
        if name.startswith("_") or name in _RESERVED:
            continue
        attribute = inspect.getattr_static(cls, name)
        if isinstance(attribute, staticmethod | classmethod | property):
            continue
        if inspect.isfunction(attribute):
            names.append(name)
    return names


__all__ = [
    "CallerConnection",
    "Hub",
    "HubCallerContext",
    "HubMethod",
    "Requirement",
    "authorize",
    "consumer_for",
    "fold",
    "serve_as_consumer",
]
