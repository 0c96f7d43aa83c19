"""CancelInvocation for plain (non-streaming) invocations, as the .NET 11 server handles it.

The official server cancels the hub method's ``CancellationToken`` and still answers with a
Completion: the method's result if it finished anyway, else the invocation error. Here the
method's ``asyncio`` task is canceled. Invocations that share a task (the ones queued behind
an invocation slot run in the task that frees it) must not cancel each other. The official
JavaScript client 10.x never sends CancelInvocation for ``invoke()``, so these tests speak
the wire protocol; streams canceled by the JS client are in tests/interop/test_js_core.py.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from django.test import override_settings

from django_hubs.filters import HubFilter
from django_hubs.protocol.messages import (
    CancelInvocationMessage,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    StreamInvocationMessage,
)
from django_hubs.server.endpoints import lifetime_for
from tests.test_streaming import RawClient, send_in_one_frame, until
from tests.testapp.hubs import TestHub, stream_log, thread_gates

CANCELED = "An unexpected error occurred invoking 'wait_until_canceled' on the server."
CANCELED_DETAILED = f"{CANCELED} OperationCanceledException: The operation was canceled."

_keys = itertools.count()

#: What ``CancelSeeingFilter`` saw: (method, how the call ended).
filter_log: list[tuple[str, str]] = []


class CancelSeeingFilter(HubFilter):
    async def invoke(self, invocation: Any, call_next: Any) -> Any:
        try:
            result = await call_next(invocation)
        except BaseException as exc:
            filter_log.append((invocation.method_name, type(exc).__name__))
            raise
        filter_log.append((invocation.method_name, "returned"))
        return result


#: One invocation at a time, whatever the environment sets: the queue behind the slot is the point.
ONE_SLOT = {
    "hubs/test": "tests.testapp.hubs.TestHub",
    "hubs/one": {"hub": "tests.testapp.hubs.TestHub", "HUBS_MAX_PARALLEL_INVOCATIONS": 1},
    "hubs/filtered": {
        "hub": "tests.testapp.hubs.TestHub",
        "FILTERS": ["tests.test_cancel_invocation.CancelSeeingFilter"],
        "HUBS_DETAILED_ERRORS": True,
    },
}


def key(name: str) -> str:
    return f"{name}-{next(_keys)}"


def dispatcher_of(connection_id: str) -> Any:
    return lifetime_for(TestHub).connections[connection_id].dispatcher


async def quiet(client: RawClient) -> Any:
    """The dispatcher of ``client`` once nothing cancelable is left in it."""
    dispatcher = dispatcher_of(await client.invoke("get_connection_id"))
    await until(lambda: not dispatcher.running and not dispatcher.canceled)
    return dispatcher


def invoke(invocation_id: str, target: str, *args: Any) -> HubMessage:
    return InvocationMessage(target, list(args), invocation_id=invocation_id)


@pytest.mark.parametrize(("path", "expected"), [("hubs/test", CANCELED), ("hubs/detailed", CANCELED_DETAILED)])
async def test_a_running_invocation_is_canceled_and_answered(path: str, expected: str) -> None:
    name = key("running")
    async with RawClient(path) as client:
        await client.send_message(invoke("w", "wait_until_canceled", name))
        await until(lambda: name in stream_log)
        await client.send_message(CancelInvocationMessage("w"))
        completion = await client.completion("w")
        assert (completion.error, completion.has_result) == (expected, False)
        assert stream_log[name]["exit"] == "CancelledError"  # the hub method saw the cancellation
        assert await client.invoke("add", 1, 2) == 3
        await quiet(client)


async def test_an_invocation_canceled_in_the_frame_that_starts_it_does_not_run() -> None:
    name = key("at-once")
    async with RawClient("hubs/test") as client:
        await send_in_one_frame(client, invoke("w", "wait_until_canceled", name), CancelInvocationMessage("w"))
        completion = await client.completion("w")
        assert completion.error == CANCELED
        assert name not in stream_log
        await quiet(client)


@override_settings(HUBS=ONE_SLOT)
async def test_canceling_the_running_invocation_leaves_those_queued_behind_it_to_run() -> None:
    """The queued invocations run in the task of the canceled one: only it may be canceled."""
    name = key("first")
    async with RawClient("hubs/one") as client:
        await client.send_message(invoke("w", "wait_until_canceled", name))
        await until(lambda: name in stream_log)
        await client.send_message(invoke("a", "add", 1, 2))
        await client.send_message(invoke("c", "cancelling"))
        await client.send_message(CancelInvocationMessage("w"))
        assert (await client.completion("w")).error == CANCELED
        assert (await client.completion("a")).result == 3
        # The task that ran the canceled one runs this one: no cancellation is left pending on it.
        assert (await client.completion("c")).result == 0
        await quiet(client)


@override_settings(HUBS=ONE_SLOT)
async def test_a_queued_invocation_canceled_before_it_starts_is_answered_and_never_runs() -> None:
    first, second = key("first"), key("queued")
    async with RawClient("hubs/one") as client:
        dispatcher = dispatcher_of(await client.invoke("get_connection_id"))
        await client.send_message(invoke("w1", "wait_until_canceled", first))
        await until(lambda: first in stream_log)
        await client.send_message(invoke("w2", "wait_until_canceled", second))
        await barrier(client)
        assert dispatcher.slots.queued == 1
        await client.send_message(CancelInvocationMessage("w2"))
        assert (await client.completion("w2")).error == CANCELED
        assert dispatcher.slots.queued == 0
        assert second not in stream_log
        assert stream_log[first]["exit"] is None  # the running one goes on
        await client.send_message(CancelInvocationMessage("w1"))
        assert (await client.completion("w1")).error == CANCELED
        await quiet(client)


async def barrier(client: RawClient) -> None:
    """Return once the server has handled every message sent before: a stream's answer
    (streams take no invocation slot, so it is not queued behind a busy one)."""
    await client.send_message(StreamInvocationMessage("barrier", "stream_values", [[]]))
    await client.completion("barrier")
    client.seen = [m for m in client.seen if m.invocation_id != "barrier"]


async def test_a_method_that_catches_the_cancellation_answers_with_its_result() -> None:
    name = key("caught")
    async with RawClient("hubs/test") as client:
        await client.send_message(invoke("k", "catch_cancel", name))
        await until(lambda: name in stream_log)
        await client.send_message(CancelInvocationMessage("k"))
        completion = await client.completion("k")
        assert (completion.error, completion.result) == (None, "finished anyway")
        assert stream_log[name] == "caught"
        await quiet(client)


@pytest.mark.django_db(transaction=True)  # a sync method's thread closes stale database connections
async def test_a_sync_method_cannot_be_interrupted_and_answers_when_it_ends() -> None:
    name = key("sync")
    async with RawClient("hubs/test") as client:
        await client.send_message(invoke("b", "blocking_gate", name))
        await client.send_message(CancelInvocationMessage("b"))
        await barrier(client)  # the cancel was handled while the method waits in its thread
        thread_gates.setdefault(name, threading.Event()).set()
        completion = await client.completion("b")
        assert (completion.error, completion.result) == (None, "done")
        assert isinstance(completion, CompletionMessage)


@override_settings(HUBS=ONE_SLOT)
async def test_filters_see_the_cancellation() -> None:
    filter_log.clear()
    name = key("filtered")
    async with RawClient("hubs/filtered") as client:
        await client.send_message(invoke("w", "wait_until_canceled", name))
        await until(lambda: name in stream_log)
        await client.send_message(CancelInvocationMessage("w"))
        assert (await client.completion("w")).error == CANCELED_DETAILED
        assert await client.invoke("add", 2, 2) == 4
    assert filter_log[:2] == [("wait_until_canceled", "CancelledError"), ("add", "returned")]
