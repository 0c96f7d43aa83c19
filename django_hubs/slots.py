"""How many hub methods one connection runs at once (``HUBS_MAX_PARALLEL_INVOCATIONS``).

A semaphore, cheaper than ``asyncio.Semaphore`` behind ``asyncio.wait_for`` on the path
every invocation takes when the slots are busy (one future per wait: no task, no timer),
and with waits that can be abandoned: the connection's reader waits here for a slot, so
it cannot see its transport end, and gives up through :meth:`abandon` when that ends.
"""

from __future__ import annotations

import asyncio
from collections import deque


class InvocationSlots:
    __slots__ = ("_free", "_waiters")

    def __init__(self, count: int) -> None:
        self._free = max(1, count)
        self._waiters: deque[asyncio.Future[bool]] = deque()

    @property
    def free(self) -> int:
        return self._free

    def take_nowait(self) -> bool:
        """A slot if one is free and nobody waits for one before us."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def take(self) -> bool:
        """A slot, waiting for one in turn."""
        return self.take_nowait() or await self.wait(self.enqueue())

    def enqueue(self) -> asyncio.Future[bool]:
        """A place in the queue; resolve it with ``False`` (:meth:`abandon`) to give up."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    async def wait(self, waiter: asyncio.Future[bool]) -> bool:
        """``True`` with a slot, ``False`` if the wait was abandoned."""
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()  # handed a slot just as the waiting task was canceled
            raise

    @staticmethod
    def abandon(waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            waiter.set_result(False)

    def release(self) -> None:
        """Hand the slot to the first live waiter, or free it."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self._free += 1
