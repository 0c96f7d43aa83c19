"""Scale-out: two daphne processes over one real redis-server behave as one hub."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from django_hubs.server.backplane import Backplane

from .live import PYTHON, ROOT, LiveServer, RedisServer

HUB = "tests.testapp.hubs.TestHub"


@pytest.fixture
def redis_server(log_dir) -> Iterator[RedisServer]:
    server = RedisServer(log_dir).start()
    yield server
    server.stop()


@pytest.fixture
def servers(redis_server, live_db, log_dir) -> Iterator[list[LiveServer]]:
    env = {"HUBS_TEST_DB": str(live_db), "HUBS_TEST_REDIS_URL": redis_server.url}
    started = [LiveServer("daphne", log_dir, env=env).start(), LiveServer("uvicorn", log_dir, env=env).start()]
    yield started
    for server in started:
        server.stop()


def command(live_db, redis_server, *args: str) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "HUBS_TEST_DB": str(live_db),
        "HUBS_TEST_REDIS_URL": redis_server.url,
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [PYTHON, "-m", "django", "hub_context", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def texts(messages):
    return sorted(m[2] for m in messages if m[0] == "Receive")


def layer_group_size(redis_server, kind: str, name: str = "") -> int:
    client = redis.Redis(port=redis_server.port)
    try:
        return client.zcard(f"asgi:group:{Backplane.group_of(HUB, kind, name)}")
    finally:
        client.close()


def test_two_processes_behave_as_one_hub(servers, agent, live_db, redis_server):
    one, two = servers
    a = agent("connect", name="a", url=f"{one.url}/hubs/test")["connectionId"]
    b = agent("connect", name="b", url=f"{two.url}/hubs/test")["connectionId"]
    c = agent("connect", name="c", url=f"{two.url}/hubs/test")["connectionId"]
    for name in ("a", "b"):
        assert agent("invoke", name=name, method="join", args=["room"]) == {"result": None}

    agent("invoke", name="c", method="to_group", args=["room", "g1"])
    agent("invoke", name="a", method="to_others", args=["o1"])
    agent("invoke", name="b", method="to_connection", args=[a, "direct"])
    agent("invoke", name="c", method="to_group_except", args=["room", [a], "ge"])
    agent("invoke", name="b", method="to_others_in_group", args=["room", "oig"])
    agent("invoke", name="a", method="to_connections", args=[[b, c], "conns"])
    agent("invoke", name="a", method="to_all_except", args=[[b], "ae"])

    assert texts(agent("wait", name="a", count=4)["messages"]) == ["ae", "direct", "g1", "oig"]
    assert texts(agent("wait", name="b", count=4)["messages"]) == ["conns", "g1", "ge", "o1"]
    assert texts(agent("wait", name="c", count=3)["messages"]) == ["ae", "conns", "o1"]

    # Client results travel to the process holding the connection and back.
    assert agent("invoke", name="a", method="ask_client", args=[c, "q1"]) == {"result": "c answers q1"}

    # A process with no connections at all (a management command) reaches them all.
    command(live_db, redis_server, "add-to-group", c, "news")
    command(live_db, redis_server, "group", "news", "from-command")
    assert texts(agent("wait", name="c", count=1)["messages"]) == ["from-command"]
    command(live_db, redis_server, "all", "everyone")
    for name in ("a", "b", "c"):
        assert "everyone" in texts(agent("wait", name=name, count=1)["messages"])
    out = command(live_db, redis_server, "invoke", b, "from a worker")
    assert json.loads(out.strip().splitlines()[-1]) == {"result": "b answers from a worker"}

    # A disconnect removes the connection everywhere: process two leaves "room".
    assert layer_group_size(redis_server, "g", "room") == 2
    agent("stop", name="b")
    deadline = time.monotonic() + 5
    while layer_group_size(redis_server, "g", "room") != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert layer_group_size(redis_server, "g", "room") == 1
    assert layer_group_size(redis_server, "c", b) == 0
    agent("invoke", name="c", method="to_group", args=["room", "after"])
    messages = agent("wait", name="a", count=2)["messages"]
    assert texts(messages) == ["after"]


def test_pysignalr_on_another_process_receives(servers, agent):
    import asyncio

    from pysignalr.client import SignalRClient

    one, two = servers
    received: list[list] = []

    async def scenario():
        client = SignalRClient(f"{two.url}/hubs/test")
        ready = asyncio.Event()

        async def on_receive(args):
            received.append(args)

        async def on_open():
            ready.set()

        client.on("Receive", on_receive)
        client.on_open(on_open)
        task = asyncio.create_task(client.run())
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: agent("connect", name="js", url=f"{one.url}/hubs/test")
        )
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: agent("invoke", name="js", method="to_others", args=["hello python"])
        )
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(scenario())
    assert received == [["others", "hello python"]]


def test_redis_restart_keeps_clients_and_resumes_delivery(servers, agent, redis_server):
    one, two = servers
    agent("connect", name="a", url=f"{one.url}/hubs/test")
    agent("connect", name="b", url=f"{two.url}/hubs/test")
    agent("connect", name="sender", url=f"{one.url}/hubs/test")
    for name in ("a", "b"):
        agent("invoke", name=name, method="join", args=["room"])
    agent("invoke", name="sender", method="to_group", args=["room", "before"])
    assert texts(agent("wait", name="b", count=1)["messages"]) == ["before"]
    agent("received", name="a")

    redis_server.stop()
    # During the outage: the call succeeds, local delivery works, the remote copy is lost (and logged).
    assert agent("invoke", name="sender", method="to_group", args=["room", "during"]) == {"result": None}
    assert texts(agent("wait", name="a", count=1)["messages"]) == ["during"]
    redis_server.start()

    deadline = time.monotonic() + 20
    got: list = []
    while time.monotonic() < deadline:
        agent("invoke", name="sender", method="to_group", args=["room", "after"])
        got = texts(agent("wait", name="b", count=1, timeoutMs=500)["messages"])
        if "after" in got:
            break
    assert "after" in got
    for name in ("a", "b", "sender"):
        assert agent("state", name=name)["state"] == "Connected"
    assert "publishing to" in one.log() and "failed" in one.log()


def test_delivery_survives_idling_past_the_layer_read_timeout(servers, agent):
    """redis-py 8.x with channels-redis 4.3 dropped consumers idle for 5 s: idle longer, then send."""
    one, two = servers
    agent("connect", name="a", url=f"{one.url}/hubs/test")
    agent("connect", name="b", url=f"{two.url}/hubs/test")
    agent("invoke", name="b", method="join", args=["idle"])
    time.sleep(7)
    agent("invoke", name="a", method="to_group", args=["idle", "still here"])
    assert texts(agent("wait", name="b", count=1)["messages"]) == ["still here"]
    assert "backplane: the channel layer failed" not in two.log()


def test_abort_from_a_process_without_connections(servers, agent, live_db, redis_server):
    """``get_hub_context(TestHub).abort(id)`` from a management command ends the connection where it lives."""
    one, two = servers
    a = agent("connect", name="a", url=f"{one.url}/hubs/test", reconnect=True)["connectionId"]
    agent("connect", name="b", url=f"{two.url}/hubs/test", reconnect=True)
    command(live_db, redis_server, "abort", a)
    deadline = time.monotonic() + 10
    while agent("state", name="a")["state"] != "Disconnected" and time.monotonic() < deadline:
        time.sleep(0.05)
    state = agent("state", name="a")
    assert state["state"] == "Disconnected"
    assert state["events"] == [["close", None]]  # closed for good: no automatic reconnect
    assert agent("state", name="b")["state"] == "Connected"
    assert agent("invoke", name="b", method="add", args=[1, 2]) == {"result": 3}
