"""Live: one slow sync method holds one thread, not the server; binding errors stay with their call.

Two clients sit in a sync hub method (``time.sleep``) while a third connects with an
access token and calls a sync method that uses the ORM. On Channels' one shared thread
the third waited for both slow calls (about twice their length); now its connect and
call finish while they still run. Ordering is asserted (by the server's own clock), not
wall time; the figures are printed (``-s``) for the report.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.protocols import ServerError, SignalRClient
from tests.interop.live import LiveServer
from tests.interop.pyclients import mint_access_token

PATH = "hubs/threads"
#: How long each slow call sleeps in its thread.
SLOW = 1.5
BINDING_FAILED = "Failed to invoke 'strict' due to an error on the server."


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[LiveServer]:
    live = LiveServer(request.param, log_dir, env={"HUBS_TEST_DB": str(live_db)}).start()
    yield live
    live.stop()


def ws_url(server: LiveServer, query: str = "") -> str:
    return f"{server.url.replace('http://', 'ws://')}/{PATH}" + (f"?{query}" if query else "")


async def connected(url: str) -> SignalRClient:
    client = SignalRClient(url)
    await client.connect(10)
    return client


async def until_running(probe: SignalRClient, count: int) -> None:
    """Wait (bounded) until ``count`` slow calls are inside their threads: a sync point, not a clock."""
    for _ in range(500):
        if await probe.invoke("running", None) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} slow call(s) never ran at once")


async def slow_users_and_a_newcomer(server: LiveServer, token: str) -> dict[str, Any]:
    one, two, probe = [await connected(ws_url(server)) for _ in range(3)]
    slow = [asyncio.ensure_future(client.invoke("sleep_sync", SLOW)) for client in (one, two)]
    await until_running(probe, 1)  # both are sent; one is in its thread at least (on one shared thread, only one)
    began = time.perf_counter()
    third = await connected(ws_url(server, f"access_token={token}"))
    connect_s = time.perf_counter() - began
    user = await third.invoke("whoami", None)
    quick = await third.invoke("count_users", None)
    newcomer_s = time.perf_counter() - began
    first, second = await asyncio.gather(*slow)
    for client in (one, two, probe, third):
        assert client.problems == []
        await client.close()
    return {
        "user": user,
        "quick": quick,
        "slow": [first, second],
        "connect_ms": connect_s * 1000,
        "newcomer_ms": newcomer_s * 1000,
    }


def test_a_token_connect_and_its_sync_call_do_not_wait_behind_slow_sync_methods(
    server: LiveServer, live_db: Path
) -> None:
    token = mint_access_token(live_db, "alice")
    seen = asyncio.run(slow_users_and_a_newcomer(server, token))
    first, second = seen["slow"]
    print(
        f"\n{server.kind}: two clients in a {SLOW} s sync method; a token connect took "
        f"{seen['connect_ms']:.0f} ms, connect + whoami + ORM call {seen['newcomer_ms']:.0f} ms; "
        f"slow calls took {first['ended'] - first['started']:.2f} s and {second['ended'] - second['started']:.2f} s"
    )
    assert seen["user"] is not None  # the token's user: the check ran, in its own thread
    assert seen["quick"]["users"] >= 2
    # The newcomer was done while both slow calls still ran (server clock: ordering, not duration).
    assert seen["quick"]["ended"] < min(first["ended"], second["ended"])
    # The two slow calls ran side by side, not one after the other.
    assert second["started"] < first["ended"] and first["started"] < second["ended"]
    assert "Traceback" not in server.log()


# --- binding errors, live --------------------------------------------------------------------


async def binding_error_over_websockets(server: LiveServer) -> None:
    client = await connected(ws_url(server))
    for kind in ("key", "validation", "type", "runtime"):
        with pytest.raises(ServerError) as refused:
            await client.invoke("strict", {"kind": kind})
        assert str(refused.value) == BINDING_FAILED
        assert await client.invoke("echo", kind) == kind  # the same connection, still open
    assert client.problems == []  # no Close message, no lost connection
    await client.close()


def test_a_binding_error_over_websockets_fails_that_invocation_only(server: LiveServer) -> None:
    asyncio.run(binding_error_over_websockets(server))
    assert "Traceback" not in server.log()


def http(server: LiveServer, method: str, query: str, body: bytes | None = None) -> tuple[int, bytes]:
    url = f"{server.url}/{PATH}{query}"
    headers = {"Content-Type": "text/plain;charset=UTF-8"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def test_a_binding_error_over_long_polling_is_an_error_completion_not_a_500(server: LiveServer) -> None:
    status, body = http(server, "POST", "/negotiate?negotiateVersion=1", b"")
    token = json.loads(body)["connectionToken"]
    assert http(server, "GET", f"?id={token}&_=0")[0] == 200  # the first poll answers at once
    assert http(server, "POST", f"?id={token}", b'{"protocol":"json","version":1}\x1e') == (200, b"")
    assert http(server, "GET", f"?id={token}&_=1") == (200, b"{}\x1e")
    calls = (
        b'{"type":1,"invocationId":"1","target":"strict","arguments":[{"kind":"key"}]}\x1e'
        b'{"type":1,"invocationId":"2","target":"echo","arguments":["after"]}\x1e'
    )
    assert http(server, "POST", f"?id={token}", calls) == (200, b"")
    found: list[dict[str, Any]] = []
    for _ in range(10):
        if len(found) >= 2:
            break
        status, body = http(server, "GET", f"?id={token}&_=2")
        assert status == 200
        found += [json.loads(record) for record in body.decode().split("\x1e") if record]
    assert found == [
        {"type": 3, "invocationId": "1", "error": BINDING_FAILED},
        {"type": 3, "invocationId": "2", "result": "after"},
    ]
    assert http(server, "DELETE", f"?id={token}")[0] == 202
    assert "Traceback" not in server.log()
