"""A closed connection is freed by reference counting alone: nothing of it waits for the cyclic GC.

Python 3.13 runs the cyclic collector much later than 3.11 did (issue #16): objects a closed
connection leaves in reference cycles stay allocated until then, so a server that churns
sockets grows. Here the collector is off while connections of every kind open and close;
whatever of them is left only in cycles is then found by a collection with ``DEBUG_SAVEALL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from channels.testing import WebsocketCommunicator

from django_hubs.protocol.messages import CompletionMessage, InvocationMessage, StreamItemMessage
from django_hubs.server.heartbeat import heartbeat
from django_hubs.testing import HubClient, HubInvocationError
from django_hubs.transports.websocket import WebSocketTransport

pytestmark = pytest.mark.django_db(transaction=True)

#: Connections per kind: a leak per connection shows as a multiple of this.
COUNT = 20
#: Objects in cycles allowed in all, whatever the count (caches filled once, the test's own).
CONSTANT = 10


async def plain() -> None:
    async with HubClient("hubs/test") as client:
        assert await client.invoke("add", 1, 2) == 3


async def failing() -> None:
    async with HubClient("hubs/test") as client:
        with pytest.raises(HubInvocationError):
            await client.invoke("fail")


async def streaming() -> None:
    async with HubClient("hubs/test") as client:
        assert [item async for item in client.stream("counter", 3)] == [0, 1, 2]


async def stream_left_open() -> None:
    """The client leaves while a stream still produces: shutdown cancels it."""
    client = await HubClient("hubs/test").connect()
    iterator: AsyncIterator[int] = client.stream("counter", 1000, 0.01)
    assert await anext(iterator) == 0
    await client.close()


async def upload() -> None:
    async with HubClient("hubs/test") as client:
        await client.send_message(InvocationMessage("upload_sum", [], "u", stream_ids=["s"]))
        for number in (1, 2, 3):
            await client.send_message(StreamItemMessage("s", number))
        await client.send_message(CompletionMessage("s"))
        assert await client.invoke("add", 1, 1) == 2  # after the upload's completion, in order


async def upload_left_open() -> None:
    """The client leaves half-way through an upload: the method sees the disconnect."""
    client = await HubClient("hubs/test").connect()
    await client.send_message(InvocationMessage("upload_sum", [], "u", stream_ids=["s"]))
    await client.send_message(StreamItemMessage("s", 1))
    assert await client.invoke("add", 1, 1) == 2
    await client.close()


async def groups() -> None:
    async with HubClient("hubs/test") as client:
        await client.invoke("join", "gc-group")
        await client.invoke("to_group", "gc-group", "hello")
        await client.receive("Receive")


async def client_result() -> None:
    async with HubClient("hubs/test") as client:
        client.on("Ask", lambda question: f"answer to {question}")
        assert await client.invoke("ask_caller", "q") == "answer to q"


async def aborted() -> None:
    """The hub aborts the connection."""
    async with HubClient("hubs/test") as client:
        await client.send("abort")
        await client.wait_closed()


async def dropped() -> None:
    """The socket drops (status 1006) without a Close message, a call half-way."""
    communicator = WebsocketCommunicator(WebSocketTransport(), "/hubs/test")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data='{"protocol":"json","version":1}\x1e')
    assert await communicator.receive_from() == "{}\x1e"
    await communicator.send_to(text_data='{"type":1,"target":"sleep","arguments":[0.05],"invocationId":"1"}\x1e')
    await communicator.disconnect(code=1006)


async def never_handshakes() -> None:
    communicator = WebsocketCommunicator(WebSocketTransport(), "/hubs/test")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()


KINDS: list[Callable[[], Awaitable[None]]] = [
    plain,
    failing,
    streaming,
    stream_left_open,
    upload,
    upload_left_open,
    groups,
    client_result,
    aborted,
    dropped,
    never_handshakes,
]


async def settled(earlier: frozenset[object] = frozenset()) -> None:
    """Until the server has finished with every connection and every task it started for them.

    ``earlier``: connections other tests left open (a long poll waiting to be reaped, say), not this test's.
    """
    for _ in range(500):
        if not (heartbeat.connections - earlier) and not [task for task in asyncio.all_tasks() if ours(task)]:
            break
        await asyncio.sleep(0.01)
    left = heartbeat.connections - earlier
    assert not left, f"connections never ended: {left}"
    for _ in range(5):
        await asyncio.sleep(0)


def ours(obj: object) -> bool:
    module = getattr(type(obj), "__module__", "") or ""
    if module.startswith("django_hubs"):
        return True
    if isinstance(obj, asyncio.Task):
        if obj.get_name() == "django_hubs.heartbeat":
            return False
        code = getattr(obj.get_coro(), "cr_code", None)
        return code is not None and "django_hubs" in code.co_filename and "testing" not in code.co_filename
    return False


class Errors(logging.StreamHandler):  # type: ignore[type-arg]
    """Formats every record, as a server's handler does, and keeps the templates of the errors only."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.ERROR:
            self.errors.append(str(record.msg))


@contextlib.contextmanager
def production_logging() -> Iterator[Errors]:
    """django_hubs' and asyncio's records formatted and dropped: pytest's capture (its handlers
    join the loggers for the test's call) keeps each record, with its exception and the frames
    of its traceback, and so the connection."""
    handler = Errors()
    saved = []
    for name in ("django_hubs", "asyncio"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate))
        logger.handlers[:] = [handler]
        logger.propagate = False
    try:
        yield handler
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers[:] = handlers
            logger.propagate = propagate


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def garbage() -> tuple[int, Counter[str]]:
    """Objects only the cyclic collector would free: how many, and which of them are ours."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    names = Counter(f"{type(obj).__module__}.{type(obj).__qualname__}" for obj in found if ours(obj))
    return len(found), names


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
async def test_a_closed_connection_leaves_no_reference_cycle(
    kind: Callable[[], Awaitable[None]], collector_off: None
) -> None:
    earlier = frozenset(heartbeat.connections)
    with production_logging() as log:
        await kind()  # warm up: caches that fill once are no leak
        await settled(earlier)
        gc.collect()

        for _ in range(COUNT):
            await kind()
        await settled(earlier)
        total, names = garbage()

    assert not names, f"{COUNT} closed connections left {total} objects in cycles, of django_hubs: {dict(names)}"
    assert total <= CONSTANT, f"{COUNT} closed connections left {total} objects in cycles ({total / COUNT:.1f} each)"
    assert set(log.errors) <= {"%s: hub method %r failed"}, log.errors  # nothing failed after the teardown
