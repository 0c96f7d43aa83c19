"""Server-Sent Events and long polling, driven by the official JavaScript client in Node.

Every script runs against daphne and then uvicorn. The ``server`` fixture serves all
three transports; ``limited`` serves only Server-Sent Events and long polling, with short
poll, disconnect and keep-alive timeouts, as a deployment that blocks WebSockets would.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .live import PYTHON, ROOT, LiveServer, run_node

pytestmark = pytest.mark.interop

ALL_TRANSPORTS = [
    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
    {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
    {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
]


def node(script: str, **options: Any) -> Any:
    return run_node(script, json.dumps(options))


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def limited(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        request.param,
        log_dir,
        env={
            "HUBS_TEST_DB": str(live_db),
            "HUBS_TRANSPORTS": "ServerSentEvents,LongPolling",
            "HUBS_LONG_POLL_TIMEOUT": "0.3",
            "HUBS_DISCONNECT_TIMEOUT": "1",
            "HUBS_KEEP_ALIVE_INTERVAL": "0.5",
        },
    ).start()
    yield live
    live.stop()


# --- the hub's features over each transport --------------------------------------------------

FEATURES = [("ServerSentEvents", "json"), ("LongPolling", "json"), ("LongPolling", "messagepack")]


@pytest.fixture(scope="module", params=FEATURES, ids=["sse", "longpolling", "longpolling-msgpack"])
def features(request: pytest.FixtureRequest, server: LiveServer) -> dict[str, Any]:
    transport, protocol = request.param
    report = node("transport_features.mjs", url=f"{server.url}/hubs/test", transport=transport, protocol=protocol)
    report["transport"] = transport
    return report


def test_invocations_and_errors(features: dict[str, Any]) -> None:
    assert features["state"] == "Connected"
    assert features["add"] == 3
    assert features["echo"] == {"text": "é\n\u001e", "list": [1, None, "two"]}
    assert features["nothing"] is None
    assert features["fail"] == "An unexpected error occurred invoking 'Fail' on the server."
    assert (
        features["refuse"] == "An unexpected error occurred invoking 'Refuse' on the server. HubException: Room is full"
    )
    assert features["unknown"] == (
        "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."
    )
    assert features["tooFew"] == "Failed to invoke 'Add' due to an error on the server."


def test_send_and_broadcast_from_another_connection(features: dict[str, Any]) -> None:
    expected = [["a", "sent by a"], ["b", "invoked by b"]]
    assert features["receivedByA"] == expected
    assert features["receivedByB"] == expected


def test_streams_both_ways(features: dict[str, Any]) -> None:
    assert features["counter"] == [0, 1, 2, 3]
    assert features["streamError"] == (
        "The client attempted to invoke the non-streaming 'Add' method with a streaming invocation."
    )
    assert features["upload"] == 10


def test_client_results(features: dict[str, Any]) -> None:
    assert features["askCaller"] == "a answers q1"
    assert features["askOther"] == "a answers q2"


def test_stop_is_clean_and_seen_by_others(features: dict[str, Any]) -> None:
    assert features["closedA"] == "clean"
    assert features["leftSeenByB"] is True
    assert features["stillWorksB"] == 42
    assert features["closedB"] == "clean"


def test_http_requests_of_the_transport(features: dict[str, Any]) -> None:
    start, later = features["startRequests"], features["laterRequests"]
    assert start[0]["path"].endswith("/negotiate") and start[0]["status"] == 200
    sends = [r for r in start + later if r["method"] == "POST" and not r["path"].endswith("/negotiate")]
    # stop() does not wait for its Close message to be posted before it ends the transport,
    # so that last POST may find the connection already gone, as on the official server.
    *answered, close = sends
    assert answered and all((r["status"], r["length"]) == (200, 0) for r in answered)
    assert close["status"] in (200, 404)
    if features["transport"] == "LongPolling":
        assert (start[1]["method"], start[1]["status"], start[1]["length"]) == ("GET", 200, 0)  # first poll
        polls = [r for r in start[2:] + later if r["method"] == "GET" and "error" not in r]
        assert polls and all(r["status"] == 200 for r in polls)
        assert [(r["method"], r["status"]) for r in later if r["method"] == "DELETE"] == [("DELETE", 202)]
    else:
        assert not [r for r in start + later if r["method"] in ("GET", "DELETE")]  # EventSource does the GET


def test_messagepack_is_refused_over_sse_by_the_client(server: LiveServer) -> None:
    report = node(
        "transport_start_error.mjs", url=f"{server.url}/hubs/test", transport="ServerSentEvents", protocol="messagepack"
    )
    assert report["error"] == (
        "Unable to connect to the server with any of the available transports. "
        "WebSockets failed: Error: 'WebSockets' is disabled by the client. "
        "ServerSentEvents failed: Error: 'ServerSentEvents' does not support Binary. "
        "LongPolling failed: Error: 'LongPolling' is disabled by the client."
    )
    assert report["selected"] == []


def test_sse_client_going_away_ends_its_connection(server: LiveServer) -> None:
    report = node("transport_vanish.mjs", url=f"{server.url}/hubs/test", childTransport="ServerSentEvents")
    assert report["seenBefore"] == 2
    assert report["leftSeen"] is True
    assert f"disconnected {report['connectionId']}" in server.log()


def test_client_falls_back_when_websockets_are_blocked(server: LiveServer) -> None:
    report = node("transport_fallback.mjs", url=f"{server.url}/hubs/test", blockWebSocket=True)
    assert report["available"] == ALL_TRANSPORTS
    assert report["selected"] == ["WebSockets", "ServerSentEvents"]
    assert report["add"] == 5


# --- a server with WebSockets disabled ------------------------------------------------------


def test_negotiate_lists_only_enabled_transports(limited: LiveServer) -> None:
    report = node("transport_fallback.mjs", url=f"{limited.url}/hubs/test")
    assert report["available"] == ALL_TRANSPORTS[1:]
    assert report["selected"] == ["ServerSentEvents"]
    assert report["add"] == 5


def test_client_forced_onto_a_disabled_transport(limited: LiveServer) -> None:
    report = node("transport_start_error.mjs", url=f"{limited.url}/hubs/test", transport="WebSockets")
    assert report["error"] == (
        "Unable to connect to the server with any of the available transports. "
        "ServerSentEvents failed: Error: 'ServerSentEvents' is disabled by the client. "
        "LongPolling failed: Error: 'LongPolling' is disabled by the client."
    )
    assert report["state"] == "Disconnected"


def test_idle_long_polling_gets_empty_polls_and_no_pings(limited: LiveServer) -> None:
    # Idle for longer than the poll timeout, the keep-alive interval and the disconnect timeout.
    report = node("transport_idle.mjs", url=f"{limited.url}/hubs/test", transport="LongPolling", idleMs=1500)
    assert report["emptyPolls"] >= 1
    assert report["pings"] == 0
    assert report["failedRequests"] == 0
    assert report["closedWhileIdle"] is None
    assert report["add"] == 42


def test_idle_sse_gets_pings(limited: LiveServer) -> None:
    report = node("transport_idle.mjs", url=f"{limited.url}/hubs/test", transport="ServerSentEvents", idleMs=1500)
    assert report["pings"] >= 1
    assert report["closedWhileIdle"] is None
    assert report["add"] == 42


def test_long_polling_client_going_away_is_reaped(limited: LiveServer) -> None:
    report = node("transport_vanish.mjs", url=f"{limited.url}/hubs/test", childTransport="LongPolling")
    assert report["leftSeen"] is True
    assert f"disposing {report['connectionId']}: no transport for HUBS_DISCONNECT_TIMEOUT" in limited.log()


# --- access tokens ----------------------------------------------------------------------------


def mint_tokens(live_db: Path, username: str, short_lifetime: float) -> tuple[str, str]:
    """A normal simplejwt access token for ``username``, and one that expires very soon."""
    script = (
        "import datetime;"
        "from django.contrib.auth import get_user_model;"
        "from rest_framework_simplejwt.tokens import AccessToken;"
        f"user = get_user_model().objects.get(username={username!r});"
        "short = AccessToken.for_user(user);"
        f"short.set_exp(lifetime=datetime.timedelta(seconds={short_lifetime}));"
        "print(AccessToken.for_user(user), short)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "HUBS_TEST_DB": str(live_db),
        "PYTHONPATH": str(ROOT),
    }
    completed = subprocess.run(
        [PYTHON, "-m", "django", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    token, short = completed.stdout.split()[-2:]
    return token, short


def user_pk(live_db: Path, username: str) -> str:
    with sqlite3.connect(live_db) as db:
        (pk,) = db.execute("SELECT id FROM auth_user WHERE username = ?", (username,)).fetchone()
    return str(pk)


def test_access_tokens_over_http_transports(server: LiveServer, live_db: Path) -> None:
    token, short = mint_tokens(live_db, "alice", short_lifetime=4)
    transports = ["ServerSentEvents", "LongPolling"]
    report = node(
        "transport_auth.mjs",
        url=f"{server.url}/hubs/test",
        privateUrl=f"{server.url}/hubs/private",
        transports=transports,
        token=token,
        shortToken=short,
    )
    alice = user_pk(live_db, "alice")
    for transport in transports:
        result = report[transport]
        assert result["whoami"] == alice, transport
        assert result["secret"] == "for members", transport
        assert result["anonymous"].startswith("Failed to complete negotiation with the server"), transport
        assert "Status code '401'" in result["anonymous"], transport
        assert result["beforeExpiry"] == alice, transport
        assert result["closedAfterExpiry"] == "clean", transport
