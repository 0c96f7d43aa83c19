"""asyncio helpers the standard library lacks."""

from __future__ import annotations

import contextvars
import types
from collections.abc import Coroutine, Generator
from typing import Any


@types.coroutine
def in_context(context: contextvars.Context, coroutine: Coroutine[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """``await in_context(ctx, coro)``: run ``coro`` to the end in the current task, every step in ``ctx``.

    What a task of its own would give ``coro`` (``create_task(coro, context=ctx)``), less
    the task: its context variables stay apart from the caller's. The caller's task runs it,
    so ``asyncio.current_task()`` in it is the caller's, and cancelling the caller cancels it.
    """
    send, throw = coroutine.send, coroutine.throw
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            yielded = context.run(send, value) if error is None else context.run(throw, error)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = (yield yielded), None
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as exc:  # thrown in by the task: a cancellation
            value, error = None, exc
