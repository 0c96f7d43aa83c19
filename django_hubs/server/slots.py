"""How many hub methods one connection runs at once (``HUBS_MAX_PARALLEL_INVOCATIONS``).

The official server stops reading a connection while all its slots are busy. Waking the
reader for every invocation is the most expensive step of a busy connection (its whole
stack, ASGI middlewares included, resumes), so here the reader may parse a few
invocations ahead (``READ_AHEAD``): they wait in line, in order, and whoever frees a slot
starts the next one. The limit on methods running at once is exactly the setting's;
only where the waiting invocations are held differs (here, not in the socket buffer).

Two kinds of waiters share one first-come queue: invocations not started yet, and hub
methods that gave their slot up while they waited for a client result and want it back.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

#: Invocations the reader may parse ahead of a free slot before it stops reading.
READ_AHEAD = 8


_NO_WAITERS: deque[Any] = deque(maxlen=0)


class InvocationSlots:
    __slots__ = ("_free", "_queued", "_room", "_start", "_waiters")

    def __init__(self, count: int, start: Callable[[Any], None]) -> None:
        """``start(invocation)`` starts a queued invocation that :meth:`release` gave a slot to.

        A bound method is held weakly: its object (the dispatcher) owns these slots, and a
        cycle would keep a closed connection for the cyclic GC instead of freeing it at once.
        Whoever releases a slot holds that object, so it is alive whenever ``start`` is needed.
        """
        self._free = max(1, count)
        self._start: Callable[[], Callable[[Any], None] | None] = (
            weakref.WeakMethod(start) if inspect.ismethod(start) else lambda: start
        )
        #: ``Future``: a running method waiting to get its slot back; anything else: an invocation.
        #: Shared by every idle connection until one needs its own (a deque is 760 bytes).
        self._waiters: deque[Any] = _NO_WAITERS
        self._queued = 0
        self._room: asyncio.Future[None] | None = None

    @property
    def free(self) -> int:
        return self._free

    @property
    def queued(self) -> int:
        """Invocations waiting for a slot."""
        return self._queued

    def take_nowait(self) -> bool:
        """A slot if one is free and nobody waits for one before us."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    def _line(self) -> deque[Any]:
        if self._waiters is _NO_WAITERS:
            self._waiters = deque()
        return self._waiters

    def queue(self, invocation: Any) -> None:
        """An invocation to start when a slot is free: whoever frees it runs it next."""
        self._line().append(invocation)
        self._queued += 1

    async def take(self) -> None:
        """A slot, waiting for one in turn."""
        if self.take_nowait():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._line().append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as the waiting task was canceled
            raise

    def release(self) -> None:
        """Give the slot up; a queued invocation it goes to is started."""
        invocation = self.next_or_release()
        if invocation is not None and (start := self._start()) is not None:
            start(invocation)

    def next_or_release(self) -> Any:
        """The queued invocation to run next with this slot, or ``None`` once the slot went
        to a method waiting to get its own back, or was freed."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not isinstance(waiter, asyncio.Future):
                self._queued -= 1
                if self._queued <= READ_AHEAD // 2:
                    self.open_room()
                return waiter
            if not waiter.done():
                waiter.set_result(None)
                return None
        self._free += 1
        return None

    @property
    def full(self) -> bool:
        """The reader should stop until queued invocations have started."""
        return self._queued >= READ_AHEAD

    def room(self) -> asyncio.Future[None]:
        """Resolved once half the queued invocations have started, or :meth:`open_room` is called."""
        if self._room is None or self._room.done():
            self._room = asyncio.get_running_loop().create_future()
        return self._room

    def open_room(self) -> None:
        """Let a reader waiting for room go on (also when its transport ended)."""
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)

    def remove_queued(self, match: Callable[[Any], bool]) -> Any:
        """Take the first queued invocation ``match`` accepts out of the line (its client canceled it).

        ``None`` if none: it has started, or never waited. The line is short (the reader stops
        at ``READ_AHEAD``), so a scan is cheap.
        """
        waiters = self._waiters
        for index, waiter in enumerate(waiters):
            if not isinstance(waiter, asyncio.Future) and match(waiter):
                del waiters[index]
                self._queued -= 1
                if self._queued <= READ_AHEAD // 2:
                    self.open_room()
                return waiter
        return None

    def drop_queued(self) -> int:
        """Forget the invocations that have not started (the connection ended); how many."""
        dropped = self._queued
        if not dropped:
            return 0
        self._waiters = deque(w for w in self._waiters if isinstance(w, asyncio.Future))
        self._queued = 0
        return dropped
