"""OpenTelemetry: a span per hub invocation and stream, its parent from the message's headers or the
connection's query string, errors, and the SignalR connection metrics; nothing when it is absent.

Each test installs a :class:`TracingFilter` on SDK providers of its own, with in-memory exporters,
in place of the one the app installed on OpenTelemetry's global (no-op) providers.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from django_hubs import Hub, HubError
from django_hubs.checks import check_settings
from django_hubs.extras import tracing
from django_hubs.server.filtering import installed_filters
from django_hubs.server.metrics import CONNECTION_BUCKETS
from django_hubs.testing import HubClient, HubInvocationError

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "tests.test_tracing.TracedHub"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"
QUERY_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
QUERY_SPAN_ID = "00f067aa0ba902b7"
QUERY_TRACEPARENT = f"00-{QUERY_TRACE_ID}-{QUERY_SPAN_ID}-01"

#: Where the stream's items make spans of their own (the test's SDK provider).
item_tracer_provider: Any = None
#: Set by the hub's on_disconnected: the connection's streams and spans have ended by then.
disconnected: asyncio.Event | None = None


class TracedHub(Hub):
    async def echo(self, value: Any) -> Any:
        return value

    async def fail(self) -> None:
        raise ValueError("no")

    def sync_trace_id(self) -> str:
        """A plain ``def`` method runs in a thread: the span is current there too."""
        return format(trace.get_current_span().get_span_context().trace_id, "032x")

    async def refuse(self) -> None:
        raise HubError("not you")

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            with trace.get_tracer("tests", tracer_provider=item_tracer_provider).start_as_current_span(f"item {i}"):
                yield i

    async def broken(self) -> AsyncIterator[int]:
        yield 1
        raise KeyError("gone")

    async def forever(self) -> AsyncIterator[int]:
        i = 0
        while True:
            yield i
            i += 1
            await asyncio.sleep(0.01)

    async def on_disconnected(self, exception: BaseException | None) -> None:
        if disconnected is not None:
            disconnected.set()


HUBS = {"hubs/traced": SERVICE}


def _disconnected() -> asyncio.Event:
    assert disconnected is not None, "the telemetry fixture sets it"
    return disconnected


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if name is None or span.name == name]

    def one(self, name: str) -> ReadableSpan:
        spans = self.finished(name)
        assert len(spans) == 1, f"expected one span {name!r}, got {[s.name for s in self.finished()]}"
        return spans[0]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = [
            point
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    global disconnected, item_tracer_provider
    disconnected = asyncio.Event()
    before = installed_filters()
    recorded = Telemetry()
    item_tracer_provider = recorded.tracer_provider
    tracing.install(tracing.TracingFilter(recorded.tracer_provider, recorded.meter_provider))
    with override_settings(HUBS=HUBS):
        yield recorded
    tracing.uninstall()
    for item in before:
        if isinstance(item, tracing.TracingFilter):
            tracing.install(item)
    recorded.tracer_provider.shutdown()
    recorded.meter_provider.shutdown()


# --- installation --------------------------------------------------------------------------


def test_the_app_installs_the_filter_when_opentelemetry_is_there() -> None:
    """tests.settings leaves HUBS_OPENTELEMETRY unset: Django's start installed one filter."""
    assert [type(item) for item in installed_filters()] == [tracing.TracingFilter]


SETUP = """
import sys
{prelude}
import tests.settings
{settings}
import django
django.setup()
from django_hubs.server.filtering import installed_filters
print([type(item).__name__ for item in installed_filters()], sys.modules.get("opentelemetry") is not None)
"""


@pytest.mark.parametrize(
    ("prelude", "settings", "expected"),
    [
        ("", "", "['TracingFilter'] True"),
        # opentelemetry-api not installed: nothing is installed, nothing of it imported.
        ("sys.modules['opentelemetry'] = None", "", "[] False"),
        ("", "tests.settings.HUBS_OPENTELEMETRY = False", "[] False"),
    ],
    ids=["installed", "absent", "turned-off"],
)
def test_without_opentelemetry_or_with_the_setting_off_nothing_is_installed(
    prelude: str, settings: str, expected: str
) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", SETUP.format(prelude=prelude, settings=settings)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == expected


async def test_with_no_filter_installed_the_hub_method_is_called_directly() -> None:
    """Without OpenTelemetry the dispatcher keeps its direct path: no chain, no extra await."""
    before = installed_filters()
    tracing.uninstall()
    try:
        with override_settings(HUBS=HUBS):
            async with HubClient("hubs/traced") as client:
                assert await client.invoke("echo", 1) == 1
                dispatchers = [c.dispatcher for c in _connections()]
                assert dispatchers and all(d._invoke_chain is None for d in dispatchers)
    finally:
        for item in before:
            tracing.install(item)


def _connections() -> list[Any]:
    from django_hubs.server.endpoints import endpoints

    return [c for endpoint in endpoints().values() for c in endpoint.lifetime.connections.values()]


class NoSpans:
    def start_span(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a span was started with no SDK set up")


async def test_with_no_sdk_set_up_the_filter_makes_no_span() -> None:
    """The app's filter on the API's global providers: no SDK, so it passes calls straight on."""
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider), "the test process set no SDK"
    [installed] = [item for item in installed_filters() if isinstance(item, tracing.TracingFilter)]
    installed_tracer = installed.tracer
    installed.tracer = NoSpans()  # type: ignore[assignment]
    try:
        with override_settings(HUBS=HUBS):
            async with HubClient("hubs/traced", query=f"traceparent={QUERY_TRACEPARENT}") as client:
                assert await client.invoke("echo", 3, headers={"traceparent": TRACEPARENT}) == 3
                assert [i async for i in client.stream("count", 2)] == [0, 1]
    finally:
        installed.tracer = installed_tracer
    assert installed.tracing() is False


def test_the_setting_is_checked() -> None:
    with override_settings(HUBS_OPENTELEMETRY="yes"):
        assert [e.id for e in check_settings(None) if e.obj == "HUBS_OPENTELEMETRY"] == ["django_hubs.E004"]


# --- spans ------------------------------------------------------------------------------------


async def test_an_invocation_is_a_server_span_named_hub_slash_method(telemetry: Telemetry) -> None:
    async with HubClient("hubs/traced") as client:
        assert await client.invoke("Echo", 5) == 5
    span = telemetry.one(f"{SERVICE}/Echo")
    assert span.kind is SpanKind.SERVER
    assert dict(span.attributes or {}) == {"rpc.system": "signalr", "rpc.service": SERVICE, "rpc.method": "Echo"}
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None  # no headers, no query: a trace of its own
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "django_hubs"


async def test_the_span_is_a_root_linked_to_the_span_that_opened_the_connection(telemetry: Telemetry) -> None:
    """As the official server: not a child of the (long) connection request, but linked to it."""
    from django_hubs.transports.websocket import WebSocketTransport

    tracer = telemetry.tracer_provider.get_tracer("tests")
    transport = WebSocketTransport()
    requests: list[int] = []

    async def instrumented(scope: Any, receive: Any, send: Any) -> None:  # as an ASGI instrumentation
        with tracer.start_as_current_span("websocket request") as request:
            requests.append(request.get_span_context().span_id)
            await transport(scope, receive, send)

    async with HubClient("hubs/traced", application=instrumented) as client:
        await client.invoke("echo", 1)
    span = telemetry.one(f"{SERVICE}/echo")
    assert span.parent is None
    assert [link.context.span_id for link in span.links] == requests


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_the_parent_comes_from_the_invocation_headers(telemetry: Telemetry, protocol: str) -> None:
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=value"}
    async with HubClient("hubs/traced", protocol=protocol) as client:
        await client.invoke("echo", 1, headers=headers)
    span = telemetry.one(f"{SERVICE}/echo")
    assert span.parent is not None and span.parent.is_remote
    assert format(span.parent.span_id, "016x") == SPAN_ID
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.context.trace_state.get("vendor") == "value"


async def test_a_sync_method_runs_under_its_span_in_its_thread(telemetry: Telemetry) -> None:
    async with HubClient("hubs/traced") as client:
        assert await client.invoke("sync_trace_id", headers={"traceparent": TRACEPARENT}) == TRACE_ID
    assert format(telemetry.one(f"{SERVICE}/sync_trace_id").context.trace_id, "032x") == TRACE_ID


async def test_the_parent_comes_from_the_query_string_and_headers_win(telemetry: Telemetry) -> None:
    """A browser cannot set headers: a ``traceparent`` on the URL parents every invocation of it."""
    async with HubClient("hubs/traced", query=f"traceparent={QUERY_TRACEPARENT}&tracestate=k%3Dv") as client:
        await client.invoke("echo", 1)
        await client.invoke("echo", 2, headers={"traceparent": TRACEPARENT})
    from_query, from_headers = telemetry.finished(f"{SERVICE}/echo")
    assert from_query.parent is not None and format(from_query.parent.span_id, "016x") == QUERY_SPAN_ID
    assert format(from_query.context.trace_id, "032x") == QUERY_TRACE_ID
    assert from_query.context.trace_state.get("k") == "v"
    assert from_headers.parent is not None and format(from_headers.parent.span_id, "016x") == SPAN_ID


async def test_a_malformed_traceparent_starts_a_trace_of_its_own(telemetry: Telemetry) -> None:
    async with HubClient("hubs/traced", query="traceparent=garbage") as client:
        await client.invoke("echo", 1, headers={"traceparent": "00-zz-yy-01"})
    assert telemetry.one(f"{SERVICE}/echo").parent is None


@pytest.mark.parametrize(("method", "error_type"), [("fail", "ValueError"), ("refuse", "django_hubs.errors.HubError")])
async def test_a_failure_sets_the_error_status_and_type(telemetry: Telemetry, method: str, error_type: str) -> None:
    async with HubClient("hubs/traced") as client:
        with pytest.raises(HubInvocationError):
            await client.invoke(method)
    span = telemetry.one(f"{SERVICE}/{method}")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == error_type


async def test_a_stream_is_one_span_that_ends_with_the_stream_and_parents_its_items(telemetry: Telemetry) -> None:
    async with HubClient("hubs/traced") as client:
        items = [i async for i in client.stream("count", 3, headers={"traceparent": TRACEPARENT})]
    assert items == [0, 1, 2]
    span = telemetry.one(f"{SERVICE}/count")
    assert span.status.status_code is StatusCode.UNSET
    assert format(span.context.trace_id, "032x") == TRACE_ID
    children = [telemetry.one(f"item {i}") for i in range(3)]
    assert all(child.parent is not None and child.parent.span_id == span.context.span_id for child in children)
    assert span.end_time is not None and all(span.end_time >= child.end_time for child in children)  # type: ignore[operator]


async def test_a_stream_that_raises_sets_the_error_status(telemetry: Telemetry) -> None:
    async with HubClient("hubs/traced") as client:
        with pytest.raises(HubInvocationError):
            [i async for i in client.stream("broken")]
    span = telemetry.one(f"{SERVICE}/broken")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "KeyError"


async def test_a_stream_ended_by_its_client_leaving_is_no_error(telemetry: Telemetry) -> None:
    async with HubClient("hubs/traced") as client:
        stream = client.stream("forever")
        assert await anext(stream) == 0
    await asyncio.wait_for(_disconnected().wait(), 10)
    span = telemetry.one(f"{SERVICE}/forever")
    assert span.status.status_code is StatusCode.UNSET
    await stream.aclose()


# --- metrics ----------------------------------------------------------------------------------


async def test_connection_metrics_have_the_semantic_convention_names_and_attributes(telemetry: Telemetry) -> None:
    transport = {"signalr.transport": "web_sockets"}
    async with HubClient("hubs/traced") as client:
        await client.invoke("echo", 1)
        [active] = telemetry.points("signalr.server.active_connections")
        assert (dict(active.attributes), active.value) == (transport, 1)
    await asyncio.wait_for(_disconnected().wait(), 10)
    [active] = telemetry.points("signalr.server.active_connections")
    assert (dict(active.attributes), active.value) == (transport, 0)
    [duration] = telemetry.points("signalr.server.connection.duration")
    assert dict(duration.attributes) == {**transport, "signalr.connection.status": "normal_closure"}
    assert duration.count == 1 and duration.sum > 0
    assert tuple(duration.explicit_bounds) == tuple(float(b) for b in CONNECTION_BUCKETS)


def test_the_metric_instruments_have_their_units() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    item = tracing.TracingFilter(TracerProvider(), provider)
    item.active_connections.add(1, {"signalr.transport": "long_polling"})
    item.connection_duration.record(1.5, {"signalr.transport": "long_polling"})
    data = reader.get_metrics_data()
    assert data is not None
    units = {m.name: m.unit for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert units == {"signalr.server.active_connections": "{connection}", "signalr.server.connection.duration": "s"}
    provider.shutdown()


def test_the_headers_reach_the_message_in_both_protocols() -> None:
    """The .NET client's ``headers`` field is kept by both hub protocols' readers."""
    from django_hubs.protocol.json import JsonHubProtocol
    from django_hubs.protocol.messagepack import MessagePackHubProtocol
    from django_hubs.protocol.messages import InvocationMessage

    message = InvocationMessage("echo", [1], "7", headers={"traceparent": TRACEPARENT})
    for protocol in (JsonHubProtocol(), MessagePackHubProtocol()):
        [decoded] = protocol.parse(bytearray(protocol.encode(message)), None)
        assert decoded.headers == {"traceparent": TRACEPARENT}, protocol
    raw = json.dumps({"type": 1, "target": "echo", "arguments": [], "headers": {"traceparent": TRACEPARENT}})
    [decoded] = JsonHubProtocol().parse(bytearray((raw + "\x1e").encode()), None)
    assert decoded.headers == {"traceparent": TRACEPARENT}
