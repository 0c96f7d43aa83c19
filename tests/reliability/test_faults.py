"""Faults: a server killed under load, a hub method that never returns, a failing on_disconnected.

Redis restarted under load, with two server processes, is in
``tests/interop/test_redis.py::test_redis_restart_keeps_clients_and_resumes_delivery``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from bench.protocols import SignalRClient
from django_hubs.server.endpoints import find_endpoint
from django_hubs.server.slots import READ_AHEAD
from django_hubs.testing import HubClient
from tests.conftest import ErrorRecords
from tests.interop.live import JsAgent, LiveServer

PATH = "hubs/reliability"
#: The official client's automatic reconnect, with short delays so the test stays short.
RECONNECT = [0, 300, 500, 1000, 1000, 1000, 2000, 2000, 2000, 2000]


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def receives(agent: JsAgent, name: str, count: int) -> list[Any]:
    return [m[2] for m in agent("wait", name=name, count=count, timeoutMs=10_000)["messages"] if m[0] == "Receive"]


# --- a server killed (SIGKILL) and restarted under load --------------------------------------

CLIENTS = {
    "ws-json": {},
    "ws-msgpack": {"protocol": "messagepack"},
    "sse": {"transport": "ServerSentEvents"},
    "long-polling": {"transport": "LongPolling"},
}


def test_clients_reconnect_on_their_own_after_the_server_is_killed(agent: JsAgent, live_db, log_dir) -> None:
    env = {"HUBS_TEST_DB": str(live_db), "HUBS_KEEP_ALIVE_INTERVAL": "1", "HUBS_CLIENT_TIMEOUT": "4"}
    server = LiveServer("uvicorn", log_dir, env=env).start()
    try:
        url = f"{server.url}/{PATH}"
        first = {
            name: agent("connect", name=name, url=url, reconnect=RECONNECT, **o)["connectionId"]
            for name, o in CLIENTS.items()
        }
        for name in CLIENTS:
            agent("invoke", name=name, method="join", args=["room"])
        agent("invoke", name="ws-json", method="to_group", args=["room", "before"])
        for name in CLIENTS:
            assert receives(agent, name, 1) == ["before"]
            # Load while the server dies: every client keeps invoking in the background.
            agent("sendmany", name=name, method="echo", count=100_000, delayMs=5)
        time.sleep(0.5)

        server.kill()  # SIGKILL: no close frames, no cleanup
        server.start()  # the same port, a fresh process that knows none of them

        def reconnected() -> bool:
            states = {name: agent("state", name=name) for name in CLIENTS}
            return all(s["state"] == "Connected" and s["connectionId"] != first[n] for n, s in states.items())

        assert wait_for(reconnected, 30), {name: agent("state", name=name) for name in CLIENTS}
        for name in CLIENTS:
            events = agent("state", name=name)["events"]
            kinds = [event[0] for event in events if event[0] != "sendmany-error"]
            assert kinds[0] == "reconnecting" and "reconnected" in kinds and "close" not in kinds, (name, events)
            assert agent("invoke", name=name, method="echo", args=[name]) == {"result": name}
            # Groups lived in the dead process: a client joins again after reconnecting.
            agent("invoke", name=name, method="join", args=["room"])
            agent("received", name=name)
        agent("invoke", name="ws-msgpack", method="to_group", args=["room", "after"])
        for name in CLIENTS:
            assert receives(agent, name, 1) == ["after"]
        log = server.log()
        assert "Traceback" not in log, log[-3000:]
    finally:
        server.stop()


# --- a hub method that hangs, and an on_disconnected that raises -----------------------------


@pytest.fixture
def hang_server(log_dir) -> Iterator[LiveServer]:
    """One invocation at a time, pings every 0.5 s, clients timed out after 2 s of silence."""
    env = {"HUBS_MAX_PARALLEL_INVOCATIONS": "1", "HUBS_KEEP_ALIVE_INTERVAL": "0.5", "HUBS_CLIENT_TIMEOUT": "2"}
    server = LiveServer("uvicorn", log_dir, env=env).start()
    yield server
    server.kill()  # uvicorn's graceful shutdown would wait for the hung method


def introspect(agent: JsAgent, name: str) -> dict[str, Any]:
    return agent("invoke", name=name, method="introspect")["result"]


def hang_and_queue(agent: JsAgent, server: LiveServer) -> None:
    """``hung`` runs ``hang`` (holding the only slot) and queues echos behind it, more than the
    server reads ahead (``READ_AHEAD``), so that the server stops reading that connection."""
    url = f"{server.url}/{PATH}"
    # The client gives up after 1.5 s without a message from the server.
    agent("connect", name="hung", url=url, serverTimeoutMs=1500, keepAliveMs=400)
    agent("connect", name="other", url=url)
    agent("send", name="hung", method="hang")
    assert wait_for(lambda: introspect(agent, "other")["hangs"]["running"] == 1, 10)
    # The echos wait for the slot the hung method holds: once READ_AHEAD of them wait, the
    # server stops reading this connection (the client's pings too), yet must neither time it
    # out nor stop pinging it.
    for number in range(READ_AHEAD + 1):
        agent("send", name="hung", method="echo", args=[number])


def test_a_hung_method_blocks_neither_pings_nor_other_connections(agent: JsAgent, hang_server: LiveServer) -> None:
    hang_and_queue(agent, hang_server)
    deadline = time.monotonic() + 4  # over twice the client's server timeout, and the server's client timeout
    answers = 0
    while time.monotonic() < deadline:
        assert agent("invoke", name="other", method="echo", args=[answers]) == {"result": answers}
        answers += 1
        time.sleep(0.2)
    state = agent("state", name="hung")
    assert state["state"] == "Connected" and state["events"] == [], state
    assert introspect(agent, "other")["connections"] == 2
    assert "Traceback" not in hang_server.log()


def test_a_client_leaving_with_a_hung_method_is_cleaned_up(agent: JsAgent, hang_server: LiveServer) -> None:
    url = f"{hang_server.url}/{PATH}"
    agent("connect", name="hung", url=url)
    agent("connect", name="other", url=url)
    agent("invoke", name="hung", method="join", args=["hung-room"])
    agent("send", name="hung", method="hang")
    assert wait_for(lambda: introspect(agent, "other")["hangs"]["running"] == 1, 10)
    agent("stop", name="hung")
    assert wait_for(lambda: introspect(agent, "other")["connections"] == 1, 10)
    now = introspect(agent, "other")
    assert now["groups"] == {} and now["ticking"] == 1
    # As in the official server, a plain invocation is not cancelled by a disconnect (it may be
    # half-way through a database write): it goes on, its result goes nowhere.
    assert now["hangs"] == {"running": 1, "cancelled": 0}


def test_a_client_gone_while_its_reader_waits_for_a_slot_is_cleaned_up(agent: JsAgent, hang_server: LiveServer) -> None:
    """Regression: the WebSocket reader waited for the slot and never learnt that its client had
    gone; the connection stayed registered (groups, pings, no ``on_disconnected``) while the
    method hung. Now a failed send ends the wait. (A client that closes politely while more
    than ``READ_AHEAD`` invocations wait is noticed once its socket is gone for good: uvicorn
    does not read a connection its app is not reading.)
    """
    agent("connect", name="other", url=f"{hang_server.url}/{PATH}")
    agent("invoke", name="other", method="join", args=["bystanders"])

    async def hang_queue_and_vanish() -> None:
        client = SignalRClient(f"{hang_server.url.replace('http://', 'ws://')}/{PATH}")
        await client.connect(10)
        assert client.ws is not None
        client.ws.send('{"type":1,"target":"join","arguments":["doomed"]}\x1e')
        client.ws.send('{"type":1,"target":"hang","arguments":[]}\x1e')
        for number in range(READ_AHEAD + 1):  # they wait for the slot; then the reader waits too
            client.ws.send(f'{{"type":1,"target":"echo","arguments":[{number}]}}\x1e')
        await asyncio.sleep(0.5)
        client.abort()  # gone: no close frame, the TCP connection reset

    asyncio.run(hang_queue_and_vanish())
    assert introspect(agent, "other")["hangs"]["running"] == 1
    assert wait_for(lambda: introspect(agent, "other")["connections"] == 1, 10)
    now = introspect(agent, "other")
    assert now["ticking"] == 1 and now["groups"] == {"bystanders": 1}
    assert "Traceback" not in hang_server.log()


def test_a_polite_close_behind_a_hung_method_is_seen_at_once(agent: JsAgent, hang_server: LiveServer) -> None:
    """With a few invocations waiting for the slot the server still reads the connection, so a
    client that stops politely is gone at once, not when its socket times out."""
    url = f"{hang_server.url}/{PATH}"
    agent("connect", name="hung", url=url)
    agent("connect", name="other", url=url)
    agent("send", name="hung", method="hang")
    assert wait_for(lambda: introspect(agent, "other")["hangs"]["running"] == 1, 10)
    for number in range(3):
        agent("send", name="hung", method="echo", args=[number])
    agent("stop", name="hung")
    assert wait_for(lambda: introspect(agent, "other")["connections"] == 1, 3)


def test_a_failing_on_disconnected_is_logged_and_cleanup_still_happens_live(
    agent: JsAgent, hang_server: LiveServer
) -> None:
    url = f"{hang_server.url}/{PATH}"
    agent("connect", name="watcher", url=url)
    agent("connect", name="doomed", url=f"{url}?fail_disconnect=1")
    agent("invoke", name="doomed", method="join", args=["doomed-room"])
    assert introspect(agent, "watcher")["groups"] == {"doomed-room": 1}
    agent("stop", name="doomed")

    assert wait_for(lambda: introspect(agent, "watcher")["groups"] == {}, 10)
    assert introspect(agent, "watcher")["connections"] == 1
    log = wait_for(lambda: "on_disconnected failed for" in hang_server.log() and hang_server.log(), 5)
    assert log and "RuntimeError: on_disconnected failed on purpose" in log


@pytest.mark.parametrize("dropped", [False, True], ids=["closed", "dropped"])
async def test_a_failing_on_disconnected_is_logged_and_cleanup_still_happens(
    error_log: ErrorRecords, dropped: bool
) -> None:
    endpoint = find_endpoint(PATH)
    assert endpoint is not None
    lifetime = endpoint.lifetime
    user = SimpleNamespace(is_authenticated=True, pk="doomed-user")
    client = await HubClient(PATH, query="fail_disconnect=1", user=user).connect()
    await client.invoke("join", "doomed-room")
    assert "doomed-room" in lifetime.groups and "doomed-user" in lifetime.users
    if dropped:
        assert client._reader is not None
        client._reader.cancel()
        await client.communicator.disconnect()
    else:
        await client.close()

    assert lifetime.connections == {} and lifetime.groups == {} and lifetime.users == {}
    failures = [r for r in error_log.records if r.msg == "on_disconnected failed for %s"]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert str(failures[0].exc_info[1]) == "on_disconnected failed on purpose"
