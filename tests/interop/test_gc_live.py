"""A live server frees what a closed WebSocket used by reference counting alone (issue #16).

Python 3.13 runs the cyclic GC far later than 3.11: what closed connections leave in reference
cycles stays allocated, and a server churning sockets grows (the second wave of
test_hardening's silent sockets). Here the server's collector is off while sockets of both
kinds open and close; the server then reports what only the collector would have freed:
django-hubs' objects, and under daphne (``python -m django_hubs.extras.daphne``, which breaks
the cycles daphne leaves) daphne's, Twisted's and autobahn's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import SERVERS
from .fuzz import HubSocket, Socket
from .test_hardening import ENV, HUB, bounded_gather

pytestmark = pytest.mark.interop

SOCKETS = 100
#: Objects in cycles allowed in all, whatever the count: what a request leaves once.
CONSTANT = 50
#: Whose objects must not be left in cycles. uvicorn's own HTTP protocol object of each upgraded
#: connection is (with its parser and flow control: a few small objects); nothing of ours refers to it.
RESPONSIBLE = {
    "daphne": ("django_hubs", "tests", "daphne", "twisted", "autobahn"),
    "uvicorn": ("django_hubs", "tests"),
}


async def call(hub: HubSocket, target: str, *arguments: Any) -> Any:
    hub.invoke(target, *arguments, invocation_id="1")
    completion = await hub.completion(20)
    assert "error" not in completion, completion
    return completion.get("result")


async def silent(url: str) -> None:
    """Never handshakes: the server answers at the handshake timeout and closes."""
    ws = await Socket.connect(url, timeout=20)
    await ws.recv(timeout=15)
    async with asyncio.timeout(15):
        await ws.lost


async def talking(url: str) -> None:
    hub = await HubSocket.connect(url, timeout=20)
    assert await call(hub, "add", 1, 2) == 3
    hub.send({"type": 7})
    async with asyncio.timeout(15):
        await hub.ws.lost


@pytest.mark.parametrize("kind", SERVERS)
async def test_closed_websockets_leave_no_reference_cycle_in_the_server(kind: str, make_server: Any) -> None:
    server = make_server(kind, **ENV)
    url = server.url.replace("http://", "ws://") + "/" + HUB
    control = await HubSocket.connect(url, timeout=20)
    await call(control, "collector", False)
    try:
        await call(control, "cycles")  # what starting the server left
        await bounded_gather([silent(url) for _ in range(SOCKETS)] + [talking(url) for _ in range(SOCKETS)])
        # daphne forgets a closed socket at its next reaper pass (each second), and only then
        # are its objects unreferenced: garbage if in a cycle, freed if not.
        await asyncio.sleep(3)
        found: dict[str, int] = await call(control, "cycles")
    finally:
        await call(control, "collector", True)
    ours = {name: count for name, count in found.items() if name.startswith(RESPONSIBLE[kind])}
    assert sum(ours.values()) < CONSTANT, f"{2 * SOCKETS} closed sockets left these objects in cycles: {ours}"
