"""Stateful reconnect: a dropped WebSocket resumes the same connection, losing and repeating nothing."""

from __future__ import annotations

import time

import pytest

from .live import TcpProxy


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_dropped_socket_resumes_without_loss_or_duplicates(server, agent, protocol):
    proxy = TcpProxy(server.port)
    try:
        first = agent("connect", name="a", url=f"{proxy.url}/hubs/test", stateful=True, protocol=protocol)
        agent("invoke", name="a", method="start_numbers", args=[150, 0.01])
        agent("sendmany", name="a", method="record", count=100, delayMs=10)
        time.sleep(0.4)
        proxy.drop()
        time.sleep(0.3)
        proxy.drop()  # twice, for good measure, while both directions are busy

        numbers: list[int] = []
        deadline = time.monotonic() + 20
        while len(numbers) < 150 and time.monotonic() < deadline:
            numbers += [m[1] for m in agent("wait", name="a", count=150 - len(numbers), timeoutMs=1000)["messages"]]
        assert numbers == list(range(150))

        deadline = time.monotonic() + 10
        recorded: list[int] = []
        while time.monotonic() < deadline:
            recorded = agent("invoke", name="a", method="recorded")["result"]
            if len(recorded) >= 100:
                break
            time.sleep(0.1)
        assert recorded == list(range(100))

        state = agent("state", name="a")
        assert state["state"] == "Connected"
        assert state["connectionId"] == first["connectionId"]  # the same logical connection
        assert not [e for e in state["events"] if e[0] in ("reconnecting", "close", "sendmany-error")]
        assert "resumed (stateful reconnect)" in server.log()
    finally:
        proxy.close()


def test_stateful_reconnect_is_not_offered_unasked(server, agent):
    """Without withStatefulReconnect() nothing changes: a drop is a plain disconnect."""
    proxy = TcpProxy(server.port)
    try:
        agent("connect", name="a", url=f"{proxy.url}/hubs/test", reconnect=True)
        proxy.drop()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            events = [e[0] for e in agent("state", name="a")["events"]]
            if "reconnected" in events:
                break
            time.sleep(0.1)
        assert events[:2] == ["reconnecting", "reconnected"]
    finally:
        proxy.close()
