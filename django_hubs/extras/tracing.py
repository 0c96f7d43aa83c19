"""Hub spans and connection metrics for OpenTelemetry (``pip install "django-hubs[opentelemetry]"``).

With ``opentelemetry-api`` installed (and :setting:`HUBS_OPENTELEMETRY` not ``False``), the app
installs one :class:`TracingFilter` around every hub when Django starts. Without the package,
nothing is installed and an invocation costs what it always did; with the package but no SDK
set up when a connection opens, the filter passes its calls on at once (one attribute read),
and the meter's no-op instruments count connections for nobody.

Spans are those of the official server's ``Microsoft.AspNetCore.SignalR.Server`` activities:

- one span per hub method invocation, and per stream invocation (it ends when the stream does),
  named ``{hub}/{method}`` (``chat.hubs.ChatHub/SendMessage``), of kind ``SERVER``, with
  ``rpc.system`` = ``signalr``, ``rpc.service`` (the hub class's full name) and ``rpc.method``
  (the target as the client sent it);
- a failure sets the span's status to ``ERROR`` and ``error.type`` to the exception's full class
  name; a stream the client cancels is no failure;
- the parent is the trace context of the message's ``headers`` (``traceparent``, ``tracestate``,
  as the .NET client sends them), else a ``traceparent`` in the connection's query string (what
  a browser can set: ``withUrl("/hubs/chat?traceparent=...")``), else none: the span starts a
  trace of its own instead of joining a connection that may last for hours. The span of the
  request that opened the connection, when an ASGI instrumentation made one, is linked.

Metrics are OpenTelemetry's stable SignalR conventions, beside the Prometheus endpoint:
``signalr.server.active_connections`` (an up-down counter, by ``signalr.transport``) and
``signalr.server.connection.duration`` (a histogram in seconds, by ``signalr.transport`` and
``signalr.connection.status``). Both count connections from the end of the handshake, as
``on_connected`` sees them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from .. import __version__
from ..server.filtering import (
    ConnectedNext,
    DisconnectedNext,
    HubFilter,
    InvocationContext,
    InvokeNext,
    LifetimeContext,
    install_filter,
    installed_filters,
    uninstall_filter,
)
from ..server.metrics import CONNECTION_BUCKETS, OTEL_TRANSPORTS, connection_status

#: The instrumentation scope of the spans and metrics (select it in a collector or a sampler).
SCOPE = "django_hubs"
#: ``Context.items`` key of the filter's per-connection state.
_STATE = object()
#: What a browser may put in the connection's query string for the invocations' parent.
_QUERY_FIELDS = ("traceparent", "tracestate")


def exception_type(exc: BaseException) -> str:
    """``error.type``: the class's full name, as the official server's ``Type.FullName``."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def hub_service(hub_class: type) -> str:
    """``rpc.service``: the hub class's full name."""
    return f"{hub_class.__module__}.{hub_class.__qualname__}"


class _Connection:
    """What the filter keeps of one connection: its metric attributes, start, parent and link."""

    __slots__ = ("attributes", "links", "parent", "started", "traced")

    def __init__(self, transport: str, scope: dict[str, Any], traced: bool) -> None:
        self.attributes = {"signalr.transport": OTEL_TRANSPORTS.get(transport, transport)}
        self.started = time.monotonic()
        #: Spans for this connection's invocations: an SDK was set up when it opened.
        self.traced = traced
        self.parent = _query_parent(scope) if traced else None
        opened_by = trace.get_current_span().get_span_context()
        self.links = (Link(opened_by),) if opened_by.is_valid else ()


def _query_parent(scope: dict[str, Any]) -> otel_context.Context | None:
    """The trace context of a ``traceparent`` in the query string, or ``None``."""
    query = scope.get("query_string", b"")
    if b"traceparent" not in query:
        return None
    values = parse_qs(query.decode("latin-1"))
    carrier = {name: values[name][0] for name in _QUERY_FIELDS if name in values}
    if "traceparent" not in carrier:
        return None
    parent = propagate.extract(carrier)
    return parent if trace.get_current_span(parent).get_span_context().is_valid else None


def _record_error(span: Span, exc: BaseException) -> None:
    span.set_attribute("error.type", exception_type(exc))
    span.set_status(Status(StatusCode.ERROR))


class TracingFilter(HubFilter):
    """A span around each invocation; the connection metrics from connect and disconnect.

    The providers default to OpenTelemetry's global ones (whatever the project's SDK set up,
    even after this filter was made); tests pass their own.
    """

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        #: Whether spans are made: always with a provider of one's own; on OpenTelemetry's global
        #: one, once a project has set an SDK's (it can be set once only, so this never goes back).
        self._tracing = tracer_provider is not None
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self.active_connections = meter.create_up_down_counter(
            "signalr.server.active_connections",
            unit="{connection}",
            description="Number of connections that are currently active on the server.",
        )
        self.connection_duration = meter.create_histogram(
            "signalr.server.connection.duration",
            unit="s",
            description="The duration of connections on the server.",
            explicit_bucket_boundaries_advisory=list(CONNECTION_BUCKETS),
        )
        self._services: dict[type, str] = {}

    # --- spans ----------------------------------------------------------------------------

    def tracing(self) -> bool:
        """Whether an SDK records spans; asked once per connection (the API's check reads ``os.environ``)."""
        if not self._tracing and not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            self._tracing = True
        return self._tracing

    def _parent(self, invocation: InvocationContext, state: _Connection | None) -> otel_context.Context:
        headers = invocation.headers
        if headers and "traceparent" in headers:
            return propagate.extract(headers)
        if state is not None and state.parent is not None:
            return state.parent
        return otel_context.Context()  # a root: not under whatever span is current in this task

    async def invoke(self, invocation: InvocationContext, call_next: InvokeNext) -> Any:
        state: _Connection | None = invocation.context.items.get(_STATE)
        if not (state.traced if state is not None else self.tracing()):
            return await call_next(invocation)  # no SDK set up: the API would make no-op spans
        hub_class = type(invocation.hub)
        service = self._services.get(hub_class)
        if service is None:
            service = self._services[hub_class] = hub_service(hub_class)
        parent = self._parent(invocation, state)
        span = self.tracer.start_span(
            f"{service}/{invocation.target}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.method": invocation.target, "rpc.system": "signalr", "rpc.service": service},
            links=state.links if state is not None else (),
        )
        current = trace.set_span_in_context(span, parent)
        token = otel_context.attach(current)
        try:
            result = await call_next(invocation)
        except Exception as exc:
            _record_error(span, exc)
            span.end()
            raise
        except BaseException:  # cancelled: no failure of the method's
            span.end()
            raise
        finally:
            otel_context.detach(token)
        if invocation.streaming and hasattr(result, "__aiter__"):
            return TracedStream(result, span, current)
        span.end()
        return result

    # --- connection metrics -----------------------------------------------------------------

    async def on_connected(self, context: LifetimeContext, call_next: ConnectedNext) -> None:
        caller = context.context
        state = _Connection(caller.transport, caller.scope, self.tracing())
        caller.items[_STATE] = state
        self.active_connections.add(1, state.attributes)
        await call_next(context)

    async def on_disconnected(
        self, context: LifetimeContext, exception: BaseException | None, call_next: DisconnectedNext
    ) -> None:
        state = context.context.items.pop(_STATE, None)
        if isinstance(state, _Connection):
            self.active_connections.add(-1, state.attributes)
            attributes = {**state.attributes, "signalr.connection.status": connection_status(exception)}
            self.connection_duration.record(time.monotonic() - state.started, attributes)
        await call_next(context, exception)


class TracedStream:
    """A streaming method's items, each produced under its span; the span ends with the stream."""

    __slots__ = ("_context", "_ended", "_iterator", "_source", "_span")

    def __init__(self, source: Any, span: Span, context: otel_context.Context) -> None:
        self._source = source
        self._iterator: Any = None
        self._span = span
        self._context = context
        self._ended = False

    def _end(self, exc: BaseException | None = None) -> None:
        if not self._ended:
            self._ended = True
            if exc is not None:
                _record_error(self._span, exc)
            self._span.end()

    def __aiter__(self) -> TracedStream:
        if self._iterator is None:
            self._iterator = self._source.__aiter__()
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._source.__aiter__()
        token = otel_context.attach(self._context)
        try:
            return await self._iterator.__anext__()
        except (StopAsyncIteration, asyncio.CancelledError):
            self._end()
            raise
        except Exception as exc:
            self._end(exc)
            raise
        finally:
            otel_context.detach(token)

    async def aclose(self) -> None:
        try:
            close = getattr(self._iterator if self._iterator is not None else self._source, "aclose", None)
            if close is not None:
                await close()
        finally:
            self._end()


# --- installation -----------------------------------------------------------------------------


def install(item: TracingFilter | None = None) -> TracingFilter:
    """Put ``item`` (a new :class:`TracingFilter` by default) around every hub, instead of any other one."""
    uninstall()
    item = item if item is not None else TracingFilter()
    install_filter(item)
    return item


def uninstall() -> None:
    """Take every :class:`TracingFilter` away (connections opened from now on)."""
    for item in installed_filters():
        if isinstance(item, TracingFilter):
            uninstall_filter(item)
