"""Authentication refresh on the wire, under daphne and uvicorn (``POST <hub>/refresh``, .NET 11).

Raw HTTP for every answer the official server gives, a raw WebSocket whose 3 s token is
refreshed and outlives its first expiry beside one that is not and is closed, CORS on the
endpoint, the connection token kept out of the logs; then the official JS client (10.x, no
refresh of its own) with a small refresh loop over each transport.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from .conftest import SERVERS
from .live import LiveServer, run_node
from .test_security import TRUSTED, RawHub, forged_token, http, token_for

pytestmark = pytest.mark.interop

HUB = "hubs/refresh"


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        request.param,
        log_dir,
        env={
            "HUBS_TEST_DB": str(live_db),
            "HUBS_TEST_URLCONF": "tests.interop.refresh_urls",
            "HUBS_TEST_CORS_ORIGINS": TRUSTED,
            "HUBS_KEEP_ALIVE_INTERVAL": "2",
            "HUBS_CLIENT_TIMEOUT": "30",
        },
    ).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def users(live_db: Path) -> dict[str, int]:
    with sqlite3.connect(live_db) as db:
        return dict(db.execute("SELECT username, id FROM auth_user WHERE username IN ('alice', 'bob')").fetchall())


def ws_url(server: LiveServer) -> str:
    return "ws" + server.url.removeprefix("http")


def negotiate(server: LiveServer, token: str, hub: str = HUB, version: str = "1") -> dict[str, Any]:
    status, _, body = http(
        "POST", f"{server.url}/{hub}/negotiate?negotiateVersion={version}", {"Authorization": f"Bearer {token}"}, b""
    )
    assert status == 200, body
    negotiated: dict[str, Any] = json.loads(body)
    return negotiated


def refresh(
    server: LiveServer,
    connection_token: str | None,
    token: str | None,
    hub: str = HUB,
    method: str = "POST",
    **headers: str,
) -> tuple[int, Any, Any]:
    query = "" if connection_token is None else f"?id={connection_token}"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    status, answer_headers, body = http(
        method, f"{server.url}/{hub}/refresh{query}", headers, b"" if method == "POST" else None
    )
    if answer_headers.get("Content-Type") == "application/json":
        return status, answer_headers, json.loads(body)
    return status, answer_headers, body


def test_every_answer_on_the_wire(server, users):
    alice, bob = users["alice"], users["bob"]
    token = token_for(alice, timedelta(seconds=60))
    negotiated = negotiate(server, token)
    assert 50 <= negotiated["tokenLifetimeSeconds"] <= 60
    connection_token = negotiated["connectionToken"]

    status, headers, body = refresh(server, connection_token, token, method="GET")
    assert (status, headers.get("Content-Type"), body) == (405, "text/plain", b"")
    disabled = negotiate(server, token, hub="hubs/test")
    assert "tokenLifetimeSeconds" not in disabled
    expected: list[tuple[tuple[str | None, str | None, str], int, str]] = [
        ((disabled["connectionToken"], token, "hubs/test"), 404, "refresh_disabled"),
        ((None, token, HUB), 400, "missing_connection_token"),
        (("no-such-connection", token, HUB), 404, "connection_not_found"),
        ((connection_token, forged_token(alice), HUB), 401, "invalid_token"),
        ((connection_token, None, HUB), 401, "invalid_token"),
        # Another user's valid token: the official server has no such check; this one refuses it.
        ((connection_token, token_for(bob), HUB), 401, "invalid_token"),
    ]
    for (id_, bearer, hub), code, error in expected:
        status, headers, body = refresh(server, id_, bearer, hub=hub)
        assert (status, headers.get("Content-Type"), body["error"]) == (code, "application/json", error), body
        assert set(body) == {"error", "error_description"}

    status, _, body = refresh(server, connection_token, token_for(alice, timedelta(seconds=600)))
    assert status == 200, body
    assert set(body) == {"connectionId", "refreshedAt", "tokenLifetimeSeconds"}
    assert body["connectionId"] == negotiated["connectionId"]
    assert 590 <= body["tokenLifetimeSeconds"] <= 600


def test_the_endpoint_gets_cors(server, users):
    preflight = http(
        "OPTIONS",
        f"{server.url}/{HUB}/refresh?id=x",
        {"Origin": TRUSTED, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight[0] == 200
    assert preflight[1]["Access-Control-Allow-Origin"] == TRUSTED
    assert preflight[1]["Access-Control-Allow-Credentials"] == "true"
    assert "authorization" in preflight[1]["Access-Control-Allow-Headers"]
    status, headers, body = refresh(server, "no-such-connection", token_for(users["alice"]), Origin=TRUSTED)
    assert (status, body["error"]) == (404, "connection_not_found")
    assert headers["Access-Control-Allow-Origin"] == TRUSTED
    # An origin the site does not list gets no CORS grant.
    _, headers, _ = refresh(server, "no-such-connection", token_for(users["alice"]), Origin="http://evil.example")
    assert "Access-Control-Allow-Origin" not in headers


async def group_message(hub: RawHub) -> list[Any]:
    """The arguments of the next ``Group`` invocation (``RawHub.next`` leaves broadcasts out)."""
    async with asyncio.timeout(10):
        while True:
            while hub.pending:
                message = hub.pending.pop(0)
                if message.get("type") == 1 and message.get("target") == "Group":
                    return list(message["arguments"])
            frame = await hub.socket.recv()
            hub.pending += [json.loads(record) for record in str(frame).split("\x1e") if record]


async def test_a_refreshed_websocket_outlives_its_first_token_an_unrefreshed_one_is_closed(server, users):
    alice, bob = users["alice"], users["bob"]
    sockets: dict[str, RawHub] = {}
    tokens: dict[str, str] = {}
    try:
        for name in ("refreshed", "unrefreshed"):
            first = token_for(alice, timedelta(seconds=3))
            tokens[name] = negotiate(server, first)["connectionToken"]
            sockets[name] = await RawHub.open(f"{ws_url(server)}/{HUB}?id={tokens[name]}&access_token={first}")
            if name == "refreshed":
                # Another user's token is refused (the connection keeps its user), then alice's fresh one
                # is taken: a 200 says the connection was still open, so the refresh beat the expiry.
                status, _, body = await asyncio.to_thread(refresh, server, tokens[name], token_for(bob))
                assert (status, body["error"]) == (401, "invalid_token")
                fresh = token_for(alice, timedelta(seconds=600))
                status, _, body = await asyncio.to_thread(refresh, server, tokens[name], fresh)
                assert status == 200, body
        refreshed, unrefreshed = sockets["refreshed"], sockets["unrefreshed"]
        await refreshed.invoke("join", "room")

        # The unrefreshed socket gets the expiry's Close. Its token was minted after the refreshed
        # socket's first one, so that one is past too: the refreshed socket has outlived it.
        assert await unrefreshed.next(timeout=15) == {"type": 7, "allowReconnect": True}
        assert await unrefreshed.closed()
        assert await refreshed.invoke("whoami", invocation_id="2") == str(alice)
        assert await refreshed.invoke("hook_calls", invocation_id="3") == [[str(alice), str(alice)]]
        await refreshed.send({"type": 1, "target": "to_group", "arguments": ["room", "still in the room"]})
        assert await group_message(refreshed) == ["still in the room"]
    finally:
        for socket in sockets.values():
            await socket.close()
    log = server.log()
    assert "its access token expired" in log
    assert "authentication refresh refused" in log and "another user" in log
    assert "authentication refreshed for" in log
    for connection_token in tokens.values():
        assert connection_token not in log, "a connection token reached the log"


def test_negotiate_version_0_refreshes_by_connection_id(server, users):
    token = token_for(users["alice"], timedelta(seconds=60))
    negotiated = negotiate(server, token, version="0")
    assert "connectionToken" not in negotiated and negotiated["tokenLifetimeSeconds"] > 0
    status, _, body = refresh(server, negotiated["connectionId"], token_for(users["alice"], timedelta(seconds=600)))
    assert status == 200 and body["connectionId"] == negotiated["connectionId"]


@pytest.mark.parametrize("transport", ["WebSockets", "ServerSentEvents", "LongPolling"])
def test_js_client_with_a_refresh_loop(server, users, transport):
    alice = users["alice"]
    result = run_node(
        "refresh_loop.mjs",
        json.dumps(
            {
                "url": f"{server.url}/{HUB}",
                "tokenUrl": f"{server.url}/token/{alice}?lifetime=3",
                "transport": transport,
                "maxRefreshes": 10,
            }
        ),
        timeout=90,
    )
    assert 1 <= result["lifetime"] <= 3
    assert result["refreshedState"] == "Connected"
    assert len(result["refreshes"]) >= 2
    assert all(entry["status"] == 200 for entry in result["refreshes"]), result["refreshes"]
    assert result["unrefreshedCloseError"] is None  # a Close without an error: the expiry
    assert result["user"] == str(alice)
    assert result["hookCalls"] == [[str(alice), str(alice)]] * len(result["hookCalls"])
    assert len(result["hookCalls"]) >= 2
    log = server.log()
    assert f"/{HUB}/refresh?id=[REDACTED]" in log  # both servers log request lines, redacted
    for connection_token in result["connectionTokens"]:
        assert connection_token and connection_token not in log
