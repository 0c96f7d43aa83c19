"""InvocationSlots: the per-connection limit on hub methods running at once."""

from __future__ import annotations

import asyncio

import pytest

from django_hubs.slots import InvocationSlots
from django_hubs.transports.outbox import Outbox

pytestmark = pytest.mark.asyncio


async def test_free_slots_are_taken_without_waiting() -> None:
    slots = InvocationSlots(2)
    assert slots.take_nowait() and slots.take_nowait()
    assert not slots.take_nowait()
    slots.release()
    assert slots.free == 1


async def test_a_released_slot_goes_to_the_first_waiter_in_turn() -> None:
    slots = InvocationSlots(1)
    assert await slots.take()
    order: list[str] = []

    async def waiter(name: str) -> None:
        assert await slots.take()
        order.append(name)
        slots.release()

    tasks = [asyncio.create_task(waiter(name)) for name in "abc"]
    await asyncio.sleep(0)
    assert not slots.take_nowait(), "nobody may jump the queue"
    slots.release()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]
    assert slots.free == 1


async def test_an_abandoned_wait_returns_false_and_costs_no_slot() -> None:
    slots = InvocationSlots(1)
    assert slots.take_nowait()
    waiter = slots.enqueue()
    waiting = asyncio.create_task(slots.wait(waiter))
    await asyncio.sleep(0)
    slots.abandon(waiter)
    assert await waiting is False
    slots.release()
    assert slots.free == 1


async def test_a_canceled_waiter_handed_a_slot_gives_it_back() -> None:
    slots = InvocationSlots(1)
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
