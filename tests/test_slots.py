"""InvocationSlots: the per-connection limit on hub methods running at once."""

from __future__ import annotations

import asyncio

import pytest

from django_hubs.server.outbox import Outbox
from django_hubs.server.slots import READ_AHEAD, InvocationSlots

pytestmark = pytest.mark.asyncio

started: list[object] = []


async def test_free_slots_are_taken_without_waiting() -> None:
    slots = InvocationSlots(2, started.append)
    assert slots.take_nowait() and slots.take_nowait()
    assert not slots.take_nowait()
    slots.release()
    assert slots.free == 1


async def test_a_released_slot_goes_to_the_first_waiter_in_turn() -> None:
    slots = InvocationSlots(1, started.append)
    await slots.take()
    assert slots.free == 0
    order: list[str] = []

    async def waiter(name: str) -> None:
        await slots.take()
        order.append(name)
        slots.release()

    tasks = [asyncio.create_task(waiter(name)) for name in "abc"]
    await asyncio.sleep(0)
    assert not slots.take_nowait(), "nobody may jump the queue"
    slots.release()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert slots.free == 1


async def test_a_reader_waiting_for_room_goes_on_when_its_transport_ends_and_costs_no_slot() -> None:
    slots = InvocationSlots(1, started.append)
    assert slots.take_nowait()
    for number in range(READ_AHEAD):
        slots.queue(number)
    waiting = asyncio.ensure_future(slots.room())
    await asyncio.sleep(0)
    slots.open_room()  # what the outbox's close does
    await asyncio.wait_for(waiting, 1)
    assert slots.free == 0 and slots.queued == READ_AHEAD, "nothing started, no slot freed"


async def test_a_canceled_waiter_handed_a_slot_gives_it_back() -> None:
    slots = InvocationSlots(1, started.append)
    assert slots.take_nowait()
    waiting = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    slots.release()  # handed to the waiter ...
    waiting.cancel()  # ... which is canceled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert slots.free == 1


async def test_closing_the_outbox_calls_its_hook_once() -> None:
    outbox = Outbox()
    calls: list[int] = []
    outbox.on_close = lambda: calls.append(1)
    outbox.close()
    outbox.close()
    assert calls == [1]


async def test_queued_invocations_start_in_order_as_slots_free() -> None:
    begun: list[str] = []
    slots = InvocationSlots(2, begun.append)
    assert slots.take_nowait() and slots.take_nowait()
    for name in "abc":
        slots.queue(name)
    assert slots.queued == 3
    slots.release()
    assert begun == ["a"] and slots.free == 0, "the freed slot passes to the started invocation"
    slots.release()
    slots.release()
    assert begun == ["a", "b", "c"] and slots.queued == 0
    slots.release()
    assert slots.free == 1


async def test_a_method_waiting_for_its_slot_back_keeps_its_turn_among_queued_invocations() -> None:
    begun: list[str] = []
    slots = InvocationSlots(1, begun.append)
    assert slots.take_nowait()
    slots.queue("first")
    back = asyncio.create_task(slots.take())  # a method returning from a client result
    await asyncio.sleep(0)
    slots.queue("second")
    slots.release()
    assert begun == ["first"] and not back.done()
    slots.release()
    await back
    assert begun == ["first"]
    slots.release()
    assert begun == ["first", "second"]


async def test_the_reader_may_read_ahead_then_waits_for_room() -> None:
    begun: list[int] = []
    slots = InvocationSlots(1, begun.append)
    assert slots.take_nowait()
    for number in range(READ_AHEAD):
        assert not slots.full
        slots.queue(number)
    assert slots.full
    room = slots.room()
    for _ in range(READ_AHEAD // 2 - 1):
        slots.release()
    assert not room.done()
    slots.release()
    assert room.done() and not room.cancelled()
    assert slots.drop_queued() == READ_AHEAD // 2
    slots.release()
    assert slots.free == 1 and len(begun) == READ_AHEAD // 2


async def test_a_canceled_wait_left_in_line_does_not_block_later_invocations() -> None:
    slots = InvocationSlots(1, started.append)
    assert slots.take_nowait()
    waiting = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    slots.release()
    assert slots.take_nowait(), "the canceled waiter must not stand in line forever"


async def test_a_canceled_queued_invocation_leaves_the_line_and_the_rest_keep_their_order() -> None:
    slots = InvocationSlots(1, started.append)
    assert slots.take_nowait()
    for name in ("a", "b", "c"):
        slots.queue(name)
    assert slots.remove_queued(lambda invocation: invocation == "b") == "b"
    assert slots.remove_queued(lambda invocation: invocation == "b") is None  # gone, or never there
    assert slots.queued == 2
    assert [slots.next_or_release(), slots.next_or_release(), slots.next_or_release()] == ["a", "c", None]
    assert slots.free == 1


async def test_removing_queued_invocations_makes_room_for_the_reader() -> None:
    slots = InvocationSlots(1, started.append)
    assert slots.take_nowait()
    for index in range(READ_AHEAD):
        slots.queue(index)
    assert slots.full
    room = slots.room()
    for index in range(READ_AHEAD // 2):
        assert slots.remove_queued(lambda invocation, index=index: invocation == index) == index
    assert room.done() and not slots.full
