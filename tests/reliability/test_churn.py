"""Churn: thousands of connect / join / disconnect cycles leave nothing behind.

Counted before and after through the app's own registries (``introspect``): connections,
groups and users of the hub, negotiated connection records, connections the heartbeat
ticks, asyncio tasks, live ``HubConnection`` objects, and with Redis the channel layer's
group memberships.
"""

from __future__ import annotations

import asyncio
import gc
import json
import urllib.request
from types import SimpleNamespace
from typing import Any

import redis

from bench.protocols import SignalRClient
from django_hubs.server.connection import HubConnection
from django_hubs.server.endpoints import find_endpoint
from django_hubs.testing import HubClient
from tests.conftest import ErrorRecords
from tests.interop.live import LiveServer
from tests.testapp.reliability import introspect

PATH = "hubs/reliability"
CYCLES = 10_000
PARALLEL = 25


def live_connections() -> int:
    gc.collect()
    # type(), not isinstance(): isinstance would wake lazy objects (admin.site) among them.
    return sum(1 for o in gc.get_objects() if type(o) is HubConnection and o.endpoint.path == PATH)


async def cycle(i: int) -> None:
    """One client's life, varied by ``i``: protocol, user, groups, broadcast, clean or dropped end."""
    user = SimpleNamespace(is_authenticated=True, pk=i % 50) if i % 2 else None
    client = HubClient(PATH, protocol="messagepack" if i % 3 == 0 else "json", user=user)
    await client.connect()
    group = f"room-{i % 37}"
    await client.invoke("join", group)
    if i % 4 == 0:
        await client.invoke("join", f"extra-{i % 11}")
    if i % 10 == 0:
        await client.invoke("to_group", group, i)
        # Others in the room may broadcast too: our own message arrives among theirs.
        while (message := await client.receive("Receive")).arguments != [f"group:{group}", i]:
            assert message.arguments[0] == f"group:{group}"
    if i % 5 == 4:
        # Dropped without a Close message, as a client whose network went away.
        if client._reader is not None:
            client._reader.cancel()
        await client.communicator.disconnect()
    else:
        await client.close()


async def settled(expected: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """The registries once cleanup has run (a disconnect finishes in the server's own tasks)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        now = introspect(PATH)
        if {**now, "records": 0} == {**expected, "records": 0} or asyncio.get_running_loop().time() > deadline:
            return now
        await asyncio.sleep(0.05)


async def test_thousands_of_in_process_cycles_leave_nothing_behind(error_log: ErrorRecords) -> None:
    for i in range(10):  # warm-up: the heartbeat task and caches exist from here on
        await cycle(i)
    # The last warm-up connection finishes its cleanup in the server's own tasks: wait for it.
    deadline = asyncio.get_running_loop().time() + 10
    while introspect(PATH)["ticking"] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    before = await settled(introspect(PATH), 0)
    assert before["connections"] == 0 and before["groups"] == {} and before["users"] == {}
    objects_before = live_connections()

    lifetime = find_endpoint(PATH).lifetime  # type: ignore[union-attr]
    slots = asyncio.Semaphore(PARALLEL)
    peak = {"connections": 0}

    async def bounded(i: int) -> None:
        async with slots:
            await cycle(i)
            peak["connections"] = max(peak["connections"], len(lifetime.connections))

    for start in range(0, CYCLES, 1_000):  # in batches: no 10,000 tasks waiting at once
        await asyncio.gather(*(bounded(i) for i in range(start, start + 1_000)))

    after = await settled(before)
    # Negotiated records are process-wide: earlier tests' may expire meanwhile, none may be added.
    assert after["records"] <= before["records"]
    assert {**after, "records": 0} == {**before, "records": 0}
    assert peak["connections"] > 1  # the cycles did overlap: the counts above were live
    deadline = asyncio.get_running_loop().time() + 5
    while live_connections() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)  # the last transports finish in their own tasks
    assert live_connections() == objects_before == 0
    assert [r.getMessage() for r in error_log.records] == []


# --- live, over Redis -------------------------------------------------------------------------

LIVE_CYCLES = 300


def layer_memberships(redis_port: int) -> dict[str, int]:
    client = redis.Redis(port=redis_port)
    try:
        return {key.decode(): client.zcard(key) for key in client.scan_iter("asgi:group:*")}
    finally:
        client.close()


def negotiate(base: str) -> str:
    request = urllib.request.Request(f"{base}/{PATH}/negotiate?negotiateVersion=1", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["connectionToken"]


async def live_cycle(server: LiveServer, i: int) -> None:
    ws_base = server.url.replace("http://", "ws://")
    url = f"{ws_base}/{PATH}"
    if i % 2:  # half of them negotiate first, as the official clients do
        token = await asyncio.get_running_loop().run_in_executor(None, negotiate, server.url)
        url += f"?id={token}"
    client = SignalRClient(url, "messagepack" if i % 3 == 0 else "json")
    await client.connect(10)
    await client.invoke("join", f"room-{i % 13}")
    if i % 5 == 4:
        client.abort()
    else:
        await client.close()
    assert client.problems == []


def test_live_churn_over_redis_leaves_nothing_behind(redis_server, live_db, log_dir) -> None:
    env = {"HUBS_TEST_DB": str(live_db), "HUBS_TEST_REDIS_URL": redis_server.url, "HUBS_DISCONNECT_TIMEOUT": "2"}
    server = LiveServer("uvicorn", log_dir, env=env).start()
    try:
        asyncio.run(live_churn(server, redis_server.port))
    finally:
        server.stop()
    assert "Traceback" not in server.log() and " ERROR " not in server.log()


async def live_churn(server: LiveServer, redis_port: int) -> None:
    probe = SignalRClient(f"{server.url.replace('http://', 'ws://')}/{PATH}")
    await probe.connect(10)
    for i in range(5):  # warm-up
        await live_cycle(server, i)
    before = await live_settled(probe, None)
    layer_before = layer_memberships(redis_port)
    assert before["connections"] == 1 and before["groups"] == {} and before["records"] == 0
    assert sum(layer_before.values()) > 0  # the probe's own memberships: the count is live

    slots = asyncio.Semaphore(10)

    async def bounded(i: int) -> None:
        async with slots:
            await live_cycle(server, i)

    await asyncio.gather(*(bounded(i) for i in range(LIVE_CYCLES)))
    after = await live_settled(probe, before)
    assert {k: v for k, v in after.items() if k != "tasks"} == {k: v for k, v in before.items() if k != "tasks"}
    assert after["tasks"] <= before["tasks"]
    deadline = asyncio.get_running_loop().time() + 10
    while layer_memberships(redis_port) != layer_before and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert layer_memberships(redis_port) == layer_before
    await probe.close()


async def live_settled(probe: SignalRClient, expected: dict[str, Any] | None) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 10
    previous: dict[str, Any] | None = None
    while True:
        now = await probe.invoke("introspect", None)
        done = now == expected if expected is not None else now == previous
        if done or asyncio.get_running_loop().time() > deadline:
            return now
        previous = now
        await asyncio.sleep(0.2)


async def test_the_heartbeat_keeps_no_closed_connection_alive() -> None:
    """Regression: the ticker's loop variable held the last connection it ticked, closed or not,
    until another connection was ticked: in an idle process, forever (with its scope, user,
    buffers and hub instance)."""
    from django_hubs.server.heartbeat import heartbeat

    async with HubClient(PATH) as client:
        await client.invoke("join", "one")
        await asyncio.sleep(heartbeat.interval * 1.5)  # ticked at least once while connected
    await asyncio.sleep(heartbeat.interval * 1.5)  # and ticking on, with nobody left
    assert heartbeat.connections == set()
    assert live_connections() == 0
