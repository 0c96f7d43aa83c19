"""Hub filters: code around every invocation, connect and disconnect, as ASP.NET Core's ``IHubFilter``.

A filter is an object with any of three coroutine methods; each gets the call and a
``call_next`` that runs the rest of the chain (the next filters, then the hub)::

    class TimingFilter(HubFilter):
        async def invoke(self, invocation, call_next):
            started = time.perf_counter()
            try:
                return await call_next(invocation)
            finally:
                print(invocation.method_name, time.perf_counter() - started)

A filter may read or replace ``invocation.arguments``, refuse the call by raising
``HubError`` (its text reaches the client as the official server's ``HubException``
does), or return something else than ``call_next`` returned. For a streaming method
``call_next`` returns the async iterator, not its items: wrap it to see them.

Filters run after the arguments are bound and ``@authorize`` allowed the call, in the
order they are listed: those an extra installed (:func:`install_filter`: the tracing of
``django_hubs.extras.tracing``) first, then ``HUBS_FILTERS`` (or a hub's ``"FILTERS"`` in
``HUBS``), then the hub class's ``filters``. Each entry is a dotted path, a class, an instance, or a
dict naming the class under ``"filter"`` with keyword arguments for it::

    HUBS_FILTERS = [
        "django_hubs.filters.InvocationLoggerFilter",
        {"filter": "django_hubs.filters.RateLimitFilter", "rate": "20/s", "per": "connection"},
    ]

One instance serves every connection of the hubs it is configured for: keep
per-connection state in ``invocation.context.items``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from ..hub import Hub, HubCallerContext, HubMethod

logger = logging.getLogger("django_hubs.filters")

InvokeNext = Callable[["InvocationContext"], Awaitable[Any]]
ConnectedNext = Callable[["LifetimeContext"], Awaitable[None]]
DisconnectedNext = Callable[["LifetimeContext", BaseException | None], Awaitable[None]]


class InvocationContext:
    """One call of a hub method, as a filter sees it."""

    __slots__ = (
        "arguments",
        "context",
        "headers",
        "hub",
        "hub_path",
        "invocation_id",
        "method",
        "streaming",
        "target",
    )

    def __init__(
        self,
        hub: Hub,
        method: HubMethod,
        target: str,
        arguments: list[Any],
        invocation_id: str | None,
        streaming: bool,
        hub_path: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.hub = hub
        self.context: HubCallerContext = hub.context
        self.method = method
        #: The name the client used (``SendMessage``); ``method_name`` is the Python one.
        self.target = target
        #: Bound and converted; upload streams sit at their parameter's position. A filter may replace them.
        self.arguments = arguments
        #: ``None`` for a non-blocking call (``send``): nobody hears of its result or error.
        self.invocation_id = invocation_id
        self.streaming = streaming
        self.hub_path = hub_path
        #: The message's ``headers`` (``traceparent``, ``tracestate`` from the .NET client), or ``None``.
        self.headers = headers

    @property
    def method_name(self) -> str:
        return self.method.name

    def __repr__(self) -> str:
        return f"<InvocationContext {self.hub_path}.{self.method_name} connection={self.context.connection_id}>"


class LifetimeContext:
    """A connection arriving or leaving, as a filter sees it."""

    __slots__ = ("context", "hub", "hub_path")

    def __init__(self, hub: Hub, hub_path: str) -> None:
        self.hub = hub
        self.context: HubCallerContext = hub.context
        self.hub_path = hub_path

    def __repr__(self) -> str:
        return f"<LifetimeContext {self.hub_path} connection={self.context.connection_id}>"


class HubFilter:
    """Base class of filters: each method passes the call on unchanged; override what you need."""

    async def invoke(self, invocation: InvocationContext, call_next: InvokeNext) -> Any:
        return await call_next(invocation)

    async def on_connected(self, context: LifetimeContext, call_next: ConnectedNext) -> None:
        await call_next(context)

    async def on_disconnected(
        self, context: LifetimeContext, exception: BaseException | None, call_next: DisconnectedNext
    ) -> None:
        await call_next(context, exception)


# --- loading ------------------------------------------------------------------------------


def build_filter(spec: Any) -> Any:
    """One filter from a settings entry: dotted path, class, instance, or ``{"filter": ..., **options}``."""
    options: dict[str, Any] = {}
    target = spec
    if isinstance(spec, dict):
        options = {key: value for key, value in spec.items() if key != "filter"}
        target = spec.get("filter")
        if target is None:
            raise ImproperlyConfigured(f'A filter entry {spec!r} names no class: give it a "filter" key.')
    if isinstance(target, str):
        try:
            target = import_string(target)
        except ImportError as exc:
            raise ImproperlyConfigured(f"Filter {target!r} cannot be imported: {exc}") from exc
    if isinstance(target, type):
        try:
            target = target(**options)
        except TypeError as exc:
            raise ImproperlyConfigured(f"Filter {spec!r}: {exc}") from exc
    elif options:
        raise ImproperlyConfigured(f"Filter {spec!r}: options need a class, not an instance.")
    if not any(callable(getattr(target, name, None)) for name in ("invoke", "on_connected", "on_disconnected")):
        raise ImproperlyConfigured(f"Filter {spec!r} has none of the methods invoke, on_connected, on_disconnected.")
    return target


def load_filters(specs: Iterable[Any] | None) -> tuple[Any, ...]:
    if specs is None:
        return ()
    if isinstance(specs, str | dict):
        raise ImproperlyConfigured("HUBS_FILTERS must be a list of filters, not a single entry.")
    return tuple(build_filter(spec) for spec in specs)


_hub_filters: dict[type, tuple[Any, ...]] = {}

#: Filters that an extra installs around every hub, outermost (``django_hubs.extras.tracing``
#: when OpenTelemetry is installed). Empty otherwise: then nothing is added to the call path.
_installed: list[Any] = []


def install_filter(item: Any) -> None:
    """Run ``item`` around every hub of connections opened from now on, before ``HUBS_FILTERS``."""
    if item not in _installed:
        _installed.append(item)


def uninstall_filter(item: Any) -> None:
    if item in _installed:
        _installed.remove(item)


def installed_filters() -> tuple[Any, ...]:
    return tuple(_installed)


def hub_filters(hub_class: type[Hub]) -> tuple[Any, ...]:
    """The filters of a hub class's ``filters`` attribute, built once."""
    built = _hub_filters.get(hub_class)
    if built is None:
        built = _hub_filters[hub_class] = load_filters(getattr(hub_class, "filters", ()))
    return built


# --- chaining -------------------------------------------------------------------------------


def _overrides(item: Any, name: str) -> bool:
    method = getattr(type(item), name, None)
    return method is not None and method is not getattr(HubFilter, name)


def _chain(filters: Iterable[Any], hook: str, innermost: Any) -> Any:
    """``innermost`` wrapped in each filter's ``hook``, the first filter outermost."""
    call = innermost
    for item in reversed([f for f in filters if _overrides(f, hook)]):
        call = _link(getattr(item, hook), call)
    return call


def _link(
    hook: Callable[..., Awaitable[Any]], call_next: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """A filter's hook with ``call_next`` bound as its last argument."""

    def call(*args: Any) -> Awaitable[Any]:
        return hook(*args, call_next)

    return call


def chain_invoke(filters: Iterable[Any], innermost: InvokeNext) -> InvokeNext:
    return _chain(filters, "invoke", innermost)


def chain_connected(filters: Iterable[Any], innermost: ConnectedNext) -> ConnectedNext:
    return _chain(filters, "on_connected", innermost)


def chain_disconnected(filters: Iterable[Any], innermost: DisconnectedNext) -> DisconnectedNext:
    return _chain(filters, "on_disconnected", innermost)
