"""OpenTelemetry under daphne and uvicorn: spans and metrics recorded inside the server process.

The server runs ``tests.interop.otel_settings``: an SDK with in-memory exporters set up before
Django starts, as a project's own would be. ``TracedHub`` reads back what it recorded. The
.NET client's ``headers`` are sent as it sends them, over a raw WebSocket; the query-string
``traceparent`` comes from the official JavaScript client on each transport, as a browser's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import SERVERS
from .fuzz import HubSocket
from .live import LiveServer, run_node

pytestmark = pytest.mark.interop

SERVICE = "tests.testapp.traced.TracedHub"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
QUERY_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
QUERY_TRACEPARENT = f"00-{QUERY_TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module", params=SERVERS)
def traced(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        request.param, log_dir, env={"HUBS_TEST_DB": str(live_db)}, settings="tests.interop.otel_settings"
    ).start()
    yield live
    live.stop()


def ws_url(server: LiveServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/hubs/traced" + (f"?{query}" if query else "")


async def call(hub: HubSocket, target: str, *arguments: Any, headers: dict[str, str] | None = None) -> Any:
    message: dict[str, Any] = {"type": 1, "invocationId": "1", "target": target, "arguments": list(arguments)}
    if headers is not None:
        message["headers"] = headers
    hub.send(message)
    completion = await hub.completion()
    return completion


async def spans(server: LiveServer) -> list[dict[str, Any]]:
    hub = await HubSocket.connect(ws_url(server))
    try:
        return (await call(hub, "finished_spans"))["result"]
    finally:
        await hub.ws.close()


def test_the_dotnet_clients_headers_parent_the_span_and_the_methods_code(traced: LiveServer) -> None:
    headers = {"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01", "tracestate": "vendor=value"}

    async def scenario() -> tuple[Any, Any, list[dict[str, Any]]]:
        hub = await HubSocket.connect(ws_url(traced))
        try:
            echoed = await call(hub, "echo", "hi", headers=headers)
            seen = await call(hub, "current_trace_id", headers=headers)
        finally:
            await hub.ws.close()
        return echoed, seen, await spans(traced)

    echoed, seen, recorded = asyncio.run(scenario())
    assert echoed["result"] == "hi"
    assert seen["result"] == TRACE_ID  # the span is current while the hub method runs
    [span] = [s for s in recorded if s["name"] == f"{SERVICE}/echo" and s["trace_id"] == TRACE_ID]
    assert span["kind"] == "SERVER" and span["parent_id"] == SPAN_ID and span["status"] == "UNSET"
    assert span["attributes"] == {"rpc.system": "signalr", "rpc.service": SERVICE, "rpc.method": "echo"}


def test_a_failing_method_is_an_error_span(traced: LiveServer) -> None:
    async def scenario() -> tuple[Any, list[dict[str, Any]]]:
        hub = await HubSocket.connect(ws_url(traced))
        try:
            failed = await call(hub, "fail")
        finally:
            await hub.ws.close()
        return failed, await spans(traced)

    failed, recorded = asyncio.run(scenario())
    assert "error" in failed
    errors = [s for s in recorded if s["name"] == f"{SERVICE}/fail"]
    assert errors and all(s["status"] == "ERROR" and s["attributes"]["error.type"] == "ValueError" for s in errors)


@pytest.mark.parametrize("transport", ["WebSockets", "ServerSentEvents", "LongPolling"])
def test_a_browser_clients_query_string_traceparent_parents_its_invocations(traced: LiveServer, transport: str) -> None:
    url = f"{traced.url}/hubs/traced?traceparent={QUERY_TRACEPARENT}"
    result = run_node("traceparent.mjs", f'{{"url": "{url}", "transport": "{transport}"}}')
    assert result["traceId"] == QUERY_TRACE_ID


def test_the_connection_metrics_are_recorded_in_the_server(traced: LiveServer) -> None:
    async def scenario() -> list[dict[str, Any]]:
        first = await HubSocket.connect(ws_url(traced))
        await call(first, "echo", 1)
        await first.ws.close()
        reader = await HubSocket.connect(ws_url(traced))
        try:
            # The server ends the first connection after the client closed it: wait for that, bounded.
            deadline = time.monotonic() + 20
            while True:
                points = (await call(reader, "metric_points"))["result"]
                active = [
                    p["value"]
                    for p in points
                    if p["name"] == "signalr.server.active_connections"
                    and p["attributes"] == {"signalr.transport": "web_sockets"}
                ]
                if active == [1] or time.monotonic() > deadline:
                    return points
                await asyncio.sleep(0.05)
        finally:
            await reader.ws.close()

    points = asyncio.run(scenario())
    active = [p for p in points if p["name"] == "signalr.server.active_connections"]
    assert {"attributes": {"signalr.transport": "web_sockets"}, "value": 1} in [
        {"attributes": p["attributes"], "value": p["value"]} for p in active
    ], points
    durations = [
        p
        for p in points
        if p["name"] == "signalr.server.connection.duration"
        and p["attributes"] == {"signalr.transport": "web_sockets", "signalr.connection.status": "normal_closure"}
    ]
    assert durations and durations[0]["count"] >= 1, points
