"""Streams both ways and client results, in process: the edge cases a live client cannot produce.

Raw protocol messages go through ``HubClient.send_message``; ``RawClient`` also keeps every
StreamItem and Completion it receives, for invocation ids the test chose itself. The same
cases with the official JS client over every transport are in tests/interop/test_js_matrix.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, override_settings
from django.urls import path

from django_hubs import HubError, get_hub_context
from django_hubs.conf import HubOptions
from django_hubs.protocol.messages import (
    PING_MESSAGE,
    CancelInvocationMessage,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from django_hubs.server.endpoints import lifetime_for
from django_hubs.testing import HubClient, HubInvocationError
from tests.testapp.hubs import TestHub, stream_log

STREAM_FAILED = "An error occurred on the server while streaming results."
CONNECTION_CLOSED = "ConnectionError: The underlying connection was closed."

_keys = itertools.count()


def new_key(name: str) -> str:
    """A fresh ``stream_log`` key: the log is process-wide."""
    return f"{name}-{next(_keys)}"


@pytest.fixture(params=["json", "messagepack"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


async def until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    """Wait for a condition the server reaches on its own; fail if it never does."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition was never reached")
        await asyncio.sleep(0.005)


class RawClient(HubClient):
    """A ``HubClient`` that also keeps the StreamItems and Completions of raw messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[StreamItemMessage | CompletionMessage] = []

    async def connect(self) -> RawClient:
        await super().connect()
        return self

    async def __aenter__(self) -> RawClient:
        return await self.connect()

    async def _route(self, message: HubMessage) -> None:
        if isinstance(message, StreamItemMessage | CompletionMessage):
            self.seen.append(message)
        await super()._route(message)

    def items(self, invocation_id: str) -> list[Any]:
        return [m.item for m in self.seen if isinstance(m, StreamItemMessage) and m.invocation_id == invocation_id]

    async def completion(self, invocation_id: str) -> CompletionMessage:
        def found() -> CompletionMessage | None:
            for m in self.seen:
                if isinstance(m, CompletionMessage) and m.invocation_id == invocation_id:
                    return m
            return None

        await until(found)
        completion = found()
        assert completion is not None
        return completion


async def state_when(client: HubClient, key: str, ready: Callable[[Any], bool]) -> Any:
    """``stream_log[key]`` read through the hub, once ``ready`` holds for it."""
    state = None
    deadline = asyncio.get_running_loop().time() + 5
    while asyncio.get_running_loop().time() < deadline:
        state = await client.invoke("stream_state", key)
        if state is not None and ready(state):
            return state
        await asyncio.sleep(0.005)
    raise AssertionError(f"stream_log[{key!r}] never got ready: {state!r}")


# --- server-to-client streams ---------------------------------------------------------------------


async def test_items_in_order_then_a_completion_without_result(protocol: str) -> None:
    values = [None, 0, "é\u001e", [1, None], {"k": None}, 1.5, False]
    async with RawClient("hubs/test", protocol=protocol) as client:
        await client.send_message(StreamInvocationMessage("v", "stream_values", [values]))
        completion = await client.completion("v")
        assert client.items("v") == values
        assert (completion.error, completion.has_result) == (None, False)
        arrivals = [m for m in client.seen if m.invocation_id == "v"]
        assert arrivals[-1] is completion  # the Completion comes after every item


async def test_a_returned_async_iterable_streams_and_anything_else_is_refused() -> None:
    async with HubClient("hubs/test") as client:
        assert [i async for i in client.stream("returned_stream", 3)] == [0, 1, 2]
        with pytest.raises(HubInvocationError) as info:
            [i async for i in client.stream("not_a_stream")]
        assert str(info.value) == (
            "The value returned by the streaming method 'not_a_stream' is not a ChannelReader<> or IAsyncEnumerable<>."
        )


@pytest.mark.parametrize(
    ("path", "hub_error", "expected"),
    [
        ("hubs/test", False, STREAM_FAILED),
        ("hubs/detailed", False, f"{STREAM_FAILED} ValueError: stream secret"),
        ("hubs/test", True, f"{STREAM_FAILED} HubException: stream refused"),
    ],
)
async def test_exception_mid_stream_ends_it_after_the_earlier_items(path: str, hub_error: bool, expected: str) -> None:
    async with HubClient(path) as client:
        received = []
        with pytest.raises(HubInvocationError) as info:
            async for item in client.stream("failing_stream", 3, hub_error):
                received.append(item)
        assert received == [0, 1, 2]
        assert str(info.value) == expected
        assert await client.invoke("add", 1, 1) == 2


async def test_cancel_invocation_closes_the_generator_before_the_completion(protocol: str) -> None:
    key = new_key("cancel")
    async with RawClient("hubs/test", protocol=protocol) as client:
        await client.send_message(StreamInvocationMessage("t", "ticker", [key]))
        await until(lambda: len(client.items("t")) >= 2)
        await client.send_message(CancelInvocationMessage("t"))
        completion = await client.completion("t")
        # Cancellation is not an error; and the generator's finally ran before the Completion was sent.
        assert (completion.error, completion.has_result) == (None, False)
        state = stream_log[key]
        assert state["closed"] is True and state["exit"] == "CancelledError"
        # CancelInvocation for an unknown or finished id is ignored.
        await client.send_message(CancelInvocationMessage("t"))
        await client.send_message(CancelInvocationMessage("never-used"))
        assert await client.invoke("add", 1, 2) == 3


async def send_in_one_frame(client: HubClient, *messages: HubMessage) -> None:
    """Several messages in one WebSocket frame, as a client that sends them back to back."""
    data = b"".join(client.protocol.encode(m) for m in messages)
    if client.protocol.binary:
        await client.communicator.send_to(bytes_data=data)
    else:
        await client.communicator.send_to(text_data=data.decode())


async def test_a_stream_canceled_in_the_frame_that_starts_it_still_completes(protocol: str) -> None:
    """A client that disposes a subscription at once sends both messages together: the stream
    must still end with a Completion (the official client waits for it) and leave nothing behind."""
    key = new_key("at-once")
    async with RawClient("hubs/test", protocol=protocol) as client:
        await send_in_one_frame(client, StreamInvocationMessage("s", "ticker", [key]), CancelInvocationMessage("s"))
        completion = await client.completion("s")
        assert (completion.error, completion.has_result) == (None, False)
        assert client.items("s") == []
        dispatcher = dispatcher_of(await client.invoke("get_connection_id"))
        assert dispatcher.streams == {} and dispatcher.canceled == set()
        # The id is free again, and streams work on.
        await client.send_message(StreamInvocationMessage("s", "counter", [2]))
        ended = lambda: [m for m in client.seen if isinstance(m, CompletionMessage) and m.invocation_id == "s"]  # noqa: E731
        await until(lambda: len(ended()) == 2)
        assert client.items("s") == [0, 1]


@pytest.mark.parametrize(
    ("path", "hub_error", "expected"),
    [
        ("hubs/test", False, "An unexpected error occurred invoking 'stream_fails_at_call' on the server."),
        (
            "hubs/detailed",
            False,
            "An unexpected error occurred invoking 'stream_fails_at_call' on the server. ValueError: call secret",
        ),
        (
            "hubs/test",
            True,
            "An unexpected error occurred invoking 'stream_fails_at_call' on the server. HubException: no stream today",
        ),
    ],
)
async def test_a_stream_method_failing_before_it_returns_a_stream_gets_the_invocation_text(
    path: str, hub_error: bool, expected: str
) -> None:
    """The official server keeps "while streaming results" for errors during the enumeration."""
    async with RawClient(path) as client:
        await client.send_message(StreamInvocationMessage("f", "stream_fails_at_call", [hub_error]))
        completion = await client.completion("f")
        assert completion.error == expected
        assert client.items("f") == []


async def test_closing_the_connection_closes_its_streams() -> None:
    key = new_key("closed")
    client = await RawClient("hubs/test").connect()
    await client.send_message(StreamInvocationMessage("t", "ticker", [key]))
    await until(lambda: client.items("t"))
    await client.close()
    assert stream_log[key]["closed"] is True


async def test_duplicate_stream_invocation_id_is_refused_and_the_first_stream_runs_on() -> None:
    key = new_key("duplicate")
    async with RawClient("hubs/test") as client:
        await client.send_message(StreamInvocationMessage("dup", "ticker", [key]))
        await until(lambda: client.items("dup"))
        await client.send_message(StreamInvocationMessage("dup", "counter", [3]))
        completion = await client.completion("dup")
        assert completion.error == "Invocation ID 'dup' is already in use."
        count = len(client.items("dup"))
        await until(lambda: len(client.items("dup")) > count)  # the ticker still produces
        assert stream_log[key]["closed"] is False
        await client.send_message(CancelInvocationMessage("dup"))
        await until(lambda: stream_log[key]["closed"])


async def test_invoke_and_stream_mismatches() -> None:
    async with RawClient("hubs/test") as client:
        with pytest.raises(HubInvocationError) as info:
            await client.invoke("counter", 3)
        assert str(info.value) == (
            "The client attempted to invoke the streaming 'counter' method with a non-streaming invocation."
        )
        with pytest.raises(HubInvocationError) as info:
            [i async for i in client.stream("add", 1, 2)]
        assert str(info.value) == (
            "The client attempted to invoke the non-streaming 'add' method with a streaming invocation."
        )
        # A method taking an upload is a plain method: it cannot be streamed from either.
        await client.send_message(StreamInvocationMessage("u", "upload_sum", [], stream_ids=["s"]))
        assert (await client.completion("u")).error == (
            "The client attempted to invoke the non-streaming 'upload_sum' method with a streaming invocation."
        )
        # send() of a streaming method: nothing at all comes back, only the next invoke's answer.
        before = len(client.seen)
        await client.send("counter", 3)
        assert await client.invoke("add", 1, 2) == 3
        (answer,) = client.seen[before:]
        assert isinstance(answer, CompletionMessage) and answer.result == 3


# --- client-to-server streams ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            InvocationMessage("add", [1, 2], "m", stream_ids=["s"]),
            "An unexpected error occurred invoking 'add' on the server. "
            "HubException: Client sent 1 stream(s), Hub method expects 0.",
        ),
        (
            InvocationMessage("upload_sum", [], "m"),
            "An unexpected error occurred invoking 'upload_sum' on the server. "
            "HubException: Client sent 0 stream(s), Hub method expects 1.",
        ),
        (
            StreamInvocationMessage("m", "double_stream", [], stream_ids=["s", "t"]),
            "An unexpected error occurred invoking 'double_stream' on the server. "
            "HubException: Client sent 2 stream(s), Hub method expects 1.",
        ),
    ],
)
async def test_stream_count_mismatch(message: HubMessage, expected: str) -> None:
    async with RawClient("hubs/test") as client:
        await client.send_message(message)
        assert (await client.completion("m")).error == expected
        # No upload was opened: items for that id are dropped without a reply.
        await client.send_message(StreamItemMessage("s", 1))
        assert await client.invoke("add", 1, 2) == 3


async def test_two_adjacent_upload_streams_and_a_stream_in_stream_out(protocol: str) -> None:
    async with RawClient("hubs/test", protocol=protocol) as client:
        await client.send_message(InvocationMessage("upload_pair", ["+"], "p", stream_ids=["n", "w"]))
        await client.send_message(StreamInvocationMessage("d", "double_stream", [], stream_ids=["x"]))
        for message in (
            StreamItemMessage("w", "a"),
            StreamItemMessage("n", 1),
            StreamItemMessage("x", 5),
            StreamItemMessage("n", 2),
            StreamItemMessage("w", "b"),
            CompletionMessage("w"),
            StreamItemMessage("x", 6),
            CompletionMessage("n"),
            CompletionMessage("x"),
        ):
            await client.send_message(message)
        assert (await client.completion("p")).result == {"sum": 3, "words": "a+b"}
        assert (await client.completion("d")).error is None
        assert client.items("d") == [10, 12]
        # A late item for a finished upload is ignored.
        await client.send_message(StreamItemMessage("n", 3))
        assert await client.invoke("add", 1, 2) == 3


async def test_upload_ended_by_a_client_error(protocol: str) -> None:
    key = new_key("client-error")
    async with RawClient("hubs/test", protocol=protocol) as client:
        await client.send_message(InvocationMessage("upload_record", [key], "u", stream_ids=["s"]))
        await client.send_message(StreamItemMessage("s", 1))
        await client.send_message(CompletionMessage("s", error="client boom"))
        completion = await client.completion("u")
        assert completion.error == (
            "An unexpected error occurred invoking 'upload_record' on the server. HubException: client boom"
        )
        assert stream_log[key] == {"items": [1], "end": "HubError: client boom"}


@override_settings(HUBS_STREAM_BUFFER_CAPACITY=2)
async def test_full_upload_buffer_stops_reading_the_connection(protocol: str) -> None:
    """Backpressure: with the buffer full the server reads no further, Pings included."""
    key = new_key("gate")
    async with RawClient("hubs/test", protocol=protocol) as client, HubClient("hubs/test") as other:
        connection = lifetime_for(TestHub).connections[await client.invoke("get_connection_id")]
        await client.send_message(InvocationMessage("gated_upload", [key], "up", stream_ids=["s"]))
        for n in range(1, 6):
            await client.send_message(StreamItemMessage("s", n))
        await client.send_message(PING_MESSAGE)
        await client.send_message(InvocationMessage("note", [key, "after the items"], "n"))
        await client.send_message(CompletionMessage("s"))

        # The hub method reads nothing yet: two items fill the buffer, the third waits to get in.
        await until(lambda: blocked_upload(connection, "s") == 2)
        assert connection.received_ping is False
        assert stream_log[key] == []  # the note behind the items has not run either

        await other.invoke("open_gate", key)  # from another connection: this one is not being read
        assert (await client.completion("up")).result == 15
        await client.completion("n")
        assert connection.received_ping is True
        log = stream_log[key]
        assert [entry for entry in log if entry[0] == "item"] == [["item", n] for n in range(1, 6)]
        # The note got through only once item 5 fit in the buffer, so after item 3 was consumed.
        assert log.index(["note", "after the items"]) > log.index(["item", 3])


def blocked_upload(connection: Any, stream_id: str) -> int | None:
    """How many items the upload buffers while the connection's reader waits to add one more."""
    upload = connection.dispatcher.uploads.get(stream_id)
    if upload is None or upload._not_full.is_set():
        return None
    return len(upload._items)


@pytest.mark.parametrize("how", ["close", "drop"])
async def test_client_leaving_mid_upload_ends_the_iterator(protocol: str, how: str) -> None:
    key = new_key("gone")
    client = await RawClient("hubs/test", protocol=protocol).connect()
    async with HubClient("hubs/test") as observer:
        await client.send_message(InvocationMessage("upload_record", [key], "u", stream_ids=["s"]))
        await client.send_message(StreamItemMessage("s", 1))
        await client.send_message(StreamItemMessage("s", 2))
        await state_when(observer, key, lambda state: state["items"] == [1, 2])
        if how == "close":
            await client.close()
        else:  # the socket goes away without a Close message
            await client.communicator.disconnect(code=1006)
        state = await state_when(observer, key, lambda state: state["end"] is not None)
    await client.close()
    assert state == {"items": [1, 2], "end": CONNECTION_CLOSED}


# --- stream ids in use, shutdown with many uploads, the bound on open streams ------------------------


def dispatcher_of(connection_id: str) -> Any:
    return lifetime_for(TestHub).connections[connection_id].dispatcher


async def test_a_stream_id_in_use_is_refused_and_nothing_remains_after_the_client_leaves(protocol: str) -> None:
    """Replacing the first upload left its method waiting forever, even after the client left."""
    key, again = new_key("reused"), new_key("reused")
    client = await RawClient("hubs/test", protocol=protocol).connect()
    dispatcher = dispatcher_of(await client.invoke("get_connection_id"))
    await client.send_message(InvocationMessage("upload_record", [key], "u1", stream_ids=["s"]))
    await client.send_message(StreamItemMessage("s", 1))
    await client.send_message(InvocationMessage("upload_record", [again], "u2", stream_ids=["s"]))
    assert (await client.completion("u2")).error == "Stream ID 's' is already in use."
    await client.send_message(InvocationMessage("upload_pair", ["-"], "u3", stream_ids=["p", "p"]))
    assert (await client.completion("u3")).error == "Stream ID 'p' is already in use."
    await client.send_message(StreamItemMessage("s", 2))  # still the first upload's
    await until(lambda: stream_log[key]["items"] == [1, 2])
    assert again not in stream_log and set(dispatcher.uploads) == {"s"}
    await client.close()
    await until(lambda: not dispatcher.tasks and not dispatcher.uploads)
    assert stream_log[key] == {"items": [1, 2], "end": CONNECTION_CLOSED}


class LogBytes(logging.Handler):
    """How many bytes django_hubs would write at INFO and above, tracebacks included."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.size = 0
        self.tracebacks = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.size += len(text) + 1
        self.tracebacks += text.count("Traceback (most recent call last)")


@override_settings(HUBS_MAX_STREAMS_PER_CONNECTION=1000)
async def test_a_client_leaving_with_many_uploads_costs_a_log_line_and_blocks_no_one(protocol: str) -> None:
    """One shared exception grew a traceback per re-raise and was logged at ERROR per upload (18 MB for 300)."""
    count = 300
    keys = [new_key("parked") for _ in range(count)]
    handler = LogBytes()
    hubs_logger = logging.getLogger("django_hubs")
    level = hubs_logger.level
    hubs_logger.setLevel(logging.INFO)
    hubs_logger.addHandler(handler)
    try:
        client = await RawClient("hubs/test", protocol=protocol).connect()
        async with HubClient("hubs/test") as bystander:
            dispatcher = dispatcher_of(await client.invoke("get_connection_id"))
            for n, key in enumerate(keys):
                await client.send_message(InvocationMessage("upload_record", [key], f"u{n}", stream_ids=[f"s{n}"]))
            await until(lambda: all(key in stream_log for key in keys))
            await client.communicator.disconnect(code=1006)  # the socket goes away, no Close message
            await until(lambda: not dispatcher.tasks and not dispatcher.uploads)
            assert await bystander.invoke("echo", "still served") == "still served"
        await client.close()
    finally:
        hubs_logger.removeHandler(handler)
        hubs_logger.setLevel(level)
    assert {stream_log[key]["end"] for key in keys} == {CONNECTION_CLOSED}
    assert handler.tracebacks == 0
    assert handler.size < 4096, handler.size  # a few lines for the connection, none per upload


@override_settings(HUBS_MAX_STREAMS_PER_CONNECTION=3)
async def test_streams_and_uploads_past_the_bound_are_refused_and_the_connection_works_on(protocol: str) -> None:
    bound = (
        "Failed to invoke '{}' because it would open more than 3 streams on this connection at once "
        "(HUBS_MAX_STREAMS_PER_CONNECTION)."
    )
    keys = [new_key("bounded") for _ in range(3)]
    async with RawClient("hubs/test", protocol=protocol) as client:
        await client.send_message(StreamInvocationMessage("t1", "ticker", [keys[0]]))
        await client.send_message(StreamInvocationMessage("t2", "ticker", [keys[1]]))
        await client.send_message(InvocationMessage("upload_record", [keys[2]], "u1", stream_ids=["s1"]))
        await client.send_message(StreamInvocationMessage("t3", "ticker", [new_key("bounded")]))
        assert (await client.completion("t3")).error == bound.format("ticker")
        await client.send_message(InvocationMessage("upload_record", [new_key("bounded")], "u2", stream_ids=["s2"]))
        assert (await client.completion("u2")).error == bound.format("upload_record")
        assert await client.invoke("add", 1, 2) == 3  # plain invocations do not count
        await client.send_message(CancelInvocationMessage("t1"))
        await client.completion("t1")
        # Stream in, stream out: two streams, one more than the room left.
        await client.send_message(StreamInvocationMessage("d", "double_stream", [], stream_ids=["s3"]))
        assert (await client.completion("d")).error == bound.format("double_stream")
        await client.send_message(CompletionMessage("s1"))
        assert (await client.completion("u1")).result == []
        await client.send_message(StreamInvocationMessage("d2", "double_stream", [], stream_ids=["s4"]))
        await client.send_message(StreamItemMessage("s4", 21))
        await client.send_message(CompletionMessage("s4"))
        assert (await client.completion("d2")).error is None
        assert client.items("d2") == [42]


def test_the_bound_on_open_streams_has_a_per_hub_override() -> None:
    assert HubOptions.load().max_streams_per_connection == 32
    assert HubOptions.load({"MAX_STREAMS_PER_CONNECTION": 2}).max_streams_per_connection == 2


# --- client results ---------------------------------------------------------------------------------


async def test_client_result_timeout_then_late_answer_is_ignored(protocol: str) -> None:
    release = asyncio.Event()

    async def slow(question: str) -> str:
        await release.wait()
        return f"late {question}"

    async with HubClient("hubs/test", protocol=protocol) as asked, HubClient("hubs/test", protocol=protocol) as asker:
        asked.on("Slow", slow)
        asked_id = await asked.invoke("get_connection_id")
        seen = await asker.invoke("try_ask", asked_id, "Slow", "q", 0.05)
        assert seen == {"error": f"TimeoutError: Client '{asked_id}' did not return a result for 'Slow' within 0.05 s."}
        release.set()  # the answer now arrives for an id nobody waits for
        assert await asked.invoke("add", 1, 2) == 3
        assert await asker.invoke("try_ask", asked_id, "Slow", "again") == {"result": "late again"}


@override_settings(HUBS_CLIENT_RESULT_TIMEOUT=0.05)
async def test_client_result_timeout_setting_is_the_default() -> None:
    release = asyncio.Event()

    async def slow(question: str) -> str:
        await release.wait()
        return question

    async with HubClient("hubs/test") as asked, HubClient("hubs/test") as asker:
        asked.on("Slow", slow)
        asked_id = await asked.invoke("get_connection_id")
        seen = await asker.invoke("try_ask", asked_id, "Slow", "q")
        release.set()
    assert seen == {"error": f"TimeoutError: Client '{asked_id}' did not return a result for 'Slow' within 0.05 s."}


async def test_client_result_fails_when_the_client_disconnects_while_the_server_waits(protocol: str) -> None:
    called = asyncio.Event()
    release = asyncio.Event()

    async def never(question: str) -> str:
        called.set()
        await release.wait()  # until the connection is gone; HubClient reads nothing meanwhile
        return question

    asked = await HubClient("hubs/test", protocol=protocol).connect()
    asked.on("Never", never)
    asked_id = await asked.invoke("get_connection_id")
    async with HubClient("hubs/test", protocol=protocol) as asker:
        waiting = asyncio.ensure_future(asker.invoke("try_ask", asked_id, "Never", "q", 10))
        await asyncio.wait_for(called.wait(), 5)
        await asked.communicator.disconnect(code=1006)
        assert await waiting == {"error": f"HubError: Connection '{asked_id}' disconnected."}
    release.set()
    await asked.close()


async def test_client_result_errors_reach_the_hub(protocol: str) -> None:
    async with HubClient("hubs/test", protocol=protocol) as client:

        def broken(question: str) -> str:
            raise RuntimeError("client boom")

        client.on("Broken", broken)
        assert await client.invoke("try_ask", None, "Broken", "q") == {"error": "HubError: Error: client boom"}
        assert await client.invoke("try_ask", None, "Missing", "q") == {
            "error": "HubError: Client didn't provide a result."
        }
        assert await client.invoke("try_ask", "gone", "Broken", "q") == {
            "error": "HubError: Connection 'gone' does not exist."
        }


# --- client results from outside any hub: get_hub_context in views ---------------------------------


def ask_view(request: HttpRequest, connection_id: str) -> JsonResponse:
    """A sync view, run by Django in a worker thread, asking a client for a result."""
    clients = get_hub_context("hubs/test").clients
    try:
        answer = async_to_sync(clients.client(connection_id).invoke)("Ask", request.GET["q"], timeout=5)
    except HubError as exc:
        return JsonResponse({"error": str(exc)}, status=502)
    return JsonResponse({"answer": answer})


async def ask_view_async(request: HttpRequest, connection_id: str) -> JsonResponse:
    try:
        answer = await get_hub_context(TestHub).clients.client(connection_id).invoke("Ask", request.GET["q"])
    except HubError as exc:
        return JsonResponse({"error": str(exc)}, status=502)
    return JsonResponse({"answer": answer})


urlpatterns = [path("ask/<str:connection_id>", ask_view), path("ask-async/<str:connection_id>", ask_view_async)]


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("view", ["ask", "ask-async"])
async def test_views_get_client_results_through_get_hub_context(view: str) -> None:
    async with HubClient("hubs/test") as client, HubClient("hubs/test") as silent:

        async def answer(question: str) -> dict[str, str]:
            await asyncio.sleep(0)
            return {"answer to": question}

        client.on("Ask", answer)
        connection_id = await client.invoke("get_connection_id")
        response = await AsyncClient().get(f"/{view}/{connection_id}", {"q": "q1"})
        assert (response.status_code, response.json()) == (200, {"answer": {"answer to": "q1"}})

        silent_id = await silent.invoke("get_connection_id")
        response = await AsyncClient().get(f"/{view}/{silent_id}", {"q": "q2"})
        assert (response.status_code, response.json()) == (502, {"error": "Client didn't provide a result."})


async def test_sync_code_gets_client_results_through_get_hub_context() -> None:
    """Sync code in a worker thread (a management command, a task): async_to_sync reaches the loop."""
    async with HubClient("hubs/test") as client:
        client.on("Ask", lambda question: question.upper())
        connection_id = await client.invoke("get_connection_id")

        def work() -> Any:
            return async_to_sync(get_hub_context(TestHub).clients.client(connection_id).invoke)("Ask", "shout")

        assert await sync_to_async(work)() == "SHOUT"
