"""in_context: a coroutine run in the current task, every step in a context of its own."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from django_hubs.server.aio import in_context

pytestmark = pytest.mark.asyncio

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")


async def sets_and_waits(value: str) -> tuple[str, str]:
    before = var.get()
    var.set(value)
    await asyncio.sleep(0)
    await asyncio.sleep(0.001)
    return before, var.get()


async def test_every_step_runs_in_the_given_context_and_the_callers_is_untouched() -> None:
    var.set("caller")
    context = contextvars.copy_context()
    assert await in_context(context, sets_and_waits("inner")) == ("caller", "inner")
    assert var.get() == "caller"
    assert context[var] == "inner"


async def test_it_runs_in_the_callers_task() -> None:
    async def which() -> asyncio.Task[object] | None:
        await asyncio.sleep(0)
        return asyncio.current_task()

    assert await in_context(contextvars.copy_context(), which()) is asyncio.current_task()


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    steps: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            steps.append("canceled")
            raise

    async def caller() -> None:  # in_context is awaited, not a task's coroutine (3.12+ refuse generator coroutines)
        await in_context(contextvars.copy_context(), slow())

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["canceled"]


async def test_exceptions_and_results_come_through() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise KeyError("x")

    with pytest.raises(KeyError):
        await in_context(contextvars.copy_context(), fails())

    async def at_once() -> int:
        return 7

    assert await in_context(contextvars.copy_context(), at_once()) == 7
