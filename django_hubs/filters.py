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
order they are listed: ``HUBS_FILTERS`` (or a hub's ``"FILTERS"`` in ``HUBS``) first,
then the hub class's ``filters``. Each entry is a dotted path, a class, an instance, or a
dict naming the class under ``"filter"`` with keyword arguments for it::

    HUBS_FILTERS = [
        "django_hubs.filters.InvocationLoggerFilter",
        {"filter": "django_hubs.filters.RateLimitFilter", "rate": "20/s", "per": "connection"},
    ]

One instance serves every connection of the hubs it is configured for: keep
per-connection state in ``invocation.context.items``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import reprlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .errors import HubError, exception_name
from .hub import fold
from .logging import redact

if TYPE_CHECKING:
    from .hub import Hub, HubCallerContext, HubMethod

logger = logging.getLogger("django_hubs.filters")

InvokeNext = Callable[["InvocationContext"], Awaitable[Any]]
ConnectedNext = Callable[["LifetimeContext"], Awaitable[None]]
DisconnectedNext = Callable[["LifetimeContext", BaseException | None], Awaitable[None]]


class InvocationContext:
    """One call of a hub method, as a filter sees it."""

    __slots__ = ("arguments", "context", "hub", "hub_path", "invocation_id", "method", "streaming", "target")

    def __init__(
        self,
        hub: Hub,
        method: HubMethod,
        target: str,
        arguments: list[Any],
        invocation_id: str | None,
        streaming: bool,
        hub_path: str,
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


# --- rate limiting ---------------------------------------------------------------------------

_PERIODS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*")


def parse_rate(rate: str) -> tuple[int, int]:
    """``"20/s"``, ``"600/min"``, ``"100/10m"`` -> (calls, seconds)."""
    match = _RATE.fullmatch(rate.lower()) if isinstance(rate, str) else None
    unit = _PERIODS.get(match.group(3)) if match else None
    if match is None or unit is None or int(match.group(1)) < 1:
        raise ImproperlyConfigured(
            f'Rate {rate!r} is not "<calls>/<period>", e.g. "20/s", "600/min", "100/10m", "1000/h", "5000/d".'
        )
    return int(match.group(1)), int(match.group(2) or 1) * unit


class RateLimitFilter(HubFilter):
    """Refuse invocations beyond ``rate`` per connection or per user, counted in Django's cache.

    ``rate`` is ``"<calls>/<period>"`` (``"20/s"``, ``"600/min"``, ``"100/10m"``); ``per`` is
    ``"connection"`` or ``"user"`` (all connections of one user together; anonymous
    connections are counted one by one). ``methods`` limits the filter to some hub methods
    (Python or client names). Counts live in the cache ``cache`` (an alias of ``CACHES``)
    in fixed windows, so a cache shared by every server process (Redis, Memcached) makes
    the limit hold across them; the default local-memory cache counts per process.

    A refused call gets the official error completion with the text
    ``Rate limit exceeded (20/s per connection); try again in 1 s.`` and the first refusal
    of each window is logged on ``django_hubs.filters``.
    """

    def __init__(
        self,
        rate: str = "20/s",
        per: str = "connection",
        methods: Iterable[str] | None = None,
        cache: str = "default",
        key_prefix: str = "django_hubs:rate",
    ) -> None:
        if per not in ("connection", "user"):
            raise ImproperlyConfigured(f'RateLimitFilter per={per!r}: use "connection" or "user".')
        if isinstance(methods, str):
            raise ImproperlyConfigured("RateLimitFilter methods must be a list of method names.")
        self.rate = rate
        self.limit, self.period = parse_rate(rate)
        self.per = per
        self.methods = frozenset(fold(name) for name in methods) if methods is not None else None
        self.cache_alias = cache
        scope = f"{rate}|{per}|{','.join(sorted(self.methods or ()))}"
        self.key_prefix = f"{key_prefix}:{_digest(scope)}"

    def _subject(self, invocation: InvocationContext) -> str:
        context = invocation.context
        if self.per == "user" and context.user_identifier is not None:
            return f"u:{context.user_identifier}"
        return f"c:{context.connection_id}"

    async def invoke(self, invocation: InvocationContext, call_next: InvokeNext) -> Any:
        if self.methods is not None and fold(invocation.method_name) not in self.methods:
            return await call_next(invocation)
        now = time.time()
        window = int(now // self.period)
        subject = self._subject(invocation)
        key = f"{self.key_prefix}:{_digest(invocation.hub_path + '|' + subject)}:{window}"
        count = await self._hit(key)
        if count > self.limit:
            if count == self.limit + 1:
                context = invocation.context
                logger.warning(
                    "rate limit %s per %s exceeded: hub=%s method=%s connection=%s user=%s",
                    self.rate,
                    self.per,
                    invocation.hub_path,
                    invocation.method_name,
                    context.connection_id,
                    context.user_identifier,
                )
            retry = max(1, math.ceil((window + 1) * self.period - now))
            raise HubError(f"Rate limit exceeded ({self.rate} per {self.per}); try again in {retry} s.")
        return await call_next(invocation)

    async def _hit(self, key: str) -> int:
        """Count one call in the window's key; the count so far."""
        cache = caches[self.cache_alias]
        timeout = self.period + 1
        if isinstance(cache, LocMemCache):  # no I/O: skip the thread hop of the async API
            if cache.add(key, 1, timeout):
                return 1
            try:
                return cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout)
                return 1
        if await cache.aadd(key, 1, timeout):
            return 1
        try:
            return await cache.aincr(key)
        except ValueError:
            await cache.aset(key, 1, timeout)
            return 1


def _digest(text: str) -> str:
    """Cache keys stay short and free of characters memcached refuses, whatever a user id holds."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


# --- logging invocations ---------------------------------------------------------------------


class RedactingRepr(reprlib.Repr):
    """``reprlib`` with tokens redacted before shortening: shortening keeps a string's head and
    tail, and a JWT cut in its middle is no longer recognisable but keeps its signature."""

    def repr_str(self, x: str, level: int) -> str:
        return super().repr_str(redact(x), level)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = redact(repr(x))
        except Exception:  # a broken __repr__: reprlib's own placeholder
            return super().repr_instance(x, level)
        if len(text) > self.maxother:
            head = max(0, (self.maxother - 3) // 2)
            tail = max(0, self.maxother - 3 - head)
            text = text[:head] + self.fillvalue + text[len(text) - tail :]
        return text


class InvocationLoggerFilter(HubFilter):
    """One log line per invocation: hub, method, outcome, duration, connection and user.

    Arguments are left out unless ``arguments=True`` (then shortened to
    ``max_argument_length`` characters); results, tokens and the scope never appear. A
    stream is logged when it ends, with the number of items sent. ``level`` is a logging
    level name or number, ``logger`` the logger's name.
    """

    def __init__(
        self,
        level: str | int = "INFO",
        logger: str = "django_hubs.invocations",
        arguments: bool = False,
        max_argument_length: int = 200,
    ) -> None:
        resolved = logging.getLevelName(level) if isinstance(level, str) else level
        if not isinstance(resolved, int):
            raise ImproperlyConfigured(f"InvocationLoggerFilter level={level!r} is not a logging level.")
        self.level = resolved
        self.logger = logging.getLogger(logger)
        self.arguments = arguments
        self._repr = RedactingRepr()
        self._repr.maxstring = self._repr.maxother = max_argument_length
        self.max_argument_length = max_argument_length

    async def invoke(self, invocation: InvocationContext, call_next: InvokeNext) -> Any:
        if not self.logger.isEnabledFor(self.level):
            return await call_next(invocation)
        started = time.perf_counter()
        try:
            result = await call_next(invocation)
        except asyncio.CancelledError:
            self._log(invocation, "canceled", started)
            raise
        except Exception as exc:
            self._log(invocation, f"error({exception_name(exc)})", started)
            raise
        if invocation.streaming and hasattr(result, "__aiter__"):
            return self._logged_stream(invocation, result, started)
        self._log(invocation, "ok", started)
        return result

    async def _logged_stream(self, invocation: InvocationContext, stream: Any, started: float) -> AsyncIterator[Any]:
        iterator = stream.__aiter__()
        items = 0
        outcome = "ok"
        try:
            async for item in iterator:
                items += 1
                yield item
        except (GeneratorExit, asyncio.CancelledError):
            outcome = "canceled"
            raise
        except Exception as exc:
            outcome = f"error({exception_name(exc)})"
            raise
        finally:
            if hasattr(iterator, "aclose"):
                await iterator.aclose()
            self._log(invocation, outcome, started, items)

    def _log(self, invocation: InvocationContext, outcome: str, started: float, items: int | None = None) -> None:
        context = invocation.context
        milliseconds = (time.perf_counter() - started) * 1000
        extra = f" items={items}" if items is not None else ""
        if self.arguments:
            text = redact(self._repr.repr(invocation.arguments))
            extra += f" arguments={redact(text[: self.max_argument_length])}"
        self.logger.log(
            self.level,
            "invoked %s.%s outcome=%s duration=%.1fms connection=%s user=%s%s",
            invocation.hub_path,
            invocation.method_name,
            outcome,
            milliseconds,
            context.connection_id,
            context.user_identifier,
            extra,
        )
