"""Raw connection handlers with the official JavaScript client's transport layer (``HttpConnection``).

The client negotiates and runs each transport with no hub protocol on top, as an
application using ``HttpConnection`` directly does; the server is daphne, then uvicorn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .live import LiveServer, run_node

pytestmark = pytest.mark.interop

CASES = [
    ("WebSockets", "Text"),
    ("WebSockets", "Binary"),
    ("ServerSentEvents", "Text"),
    ("LongPolling", "Text"),
    ("LongPolling", "Binary"),
]


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def raw_server(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[LiveServer]:
    live = LiveServer(request.param, log_dir, env={"HUBS_TEST_DB": str(live_db)}, settings="tests.interop.raw_settings")
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module", params=CASES, ids=[f"{t}-{f}" for t, f in CASES])
def run(request: pytest.FixtureRequest, raw_server: LiveServer) -> dict[str, Any]:
    transport, transfer_format = request.param
    options = {"url": f"{raw_server.url}/raw/echo", "transport": transport, "format": transfer_format}
    report: dict[str, Any] = run_node("raw_connection.mjs", json.dumps(options))
    report["transport"], report["format"], report["log"] = transport, transfer_format, raw_server.log()
    return report


def as_sent(run: dict[str, Any], text: str) -> dict[str, Any]:
    """How the client shows a text message: a string, except long polling in Binary format (an ArrayBuffer)."""
    if run["transport"] == "LongPolling" and run["format"] == "Binary":
        return {"bytes": list(text.encode())}
    return {"text": text}


def test_echo_round_trip_and_server_initiated_sends(run: dict[str, Any]) -> None:
    assert run["welcome"] == as_sent(run, "welcome")  # sent by on_connected
    assert run["echo"] == as_sent(run, "héllo\u001e\nsecond line")  # no framing: separators are data
    assert run["later"] == as_sent(run, "on my own")  # sent outside any receive
    if run["format"] == "Binary":
        assert run["binaryEcho"] == {"bytes": [0, 1, 255]}
    assert run["idLength"] == 22


def test_client_stop_reaches_on_disconnected(run: dict[str, Any]) -> None:
    assert run["aClosed"] == {"seen": True, "error": None}
    assert run["onDisconnected"] == {"seen": True, "reason": None}


def test_server_close_is_seen_by_the_client(run: dict[str, Any]) -> None:
    assert run["serverClose"] == {"seen": True, "error": None}


def test_a_handler_that_raises_closes_its_connection_and_the_server_serves_others(run: dict[str, Any]) -> None:
    assert run["failed"] == {"seen": True, "error": None}  # daphne cannot close with 1011: a plain close
    assert f"receive failed for {run['failingId']}" in run["log"]
    assert "RuntimeError: the handler failed" in run["log"]
    assert run["otherEcho"] == as_sent(run, "still served")
