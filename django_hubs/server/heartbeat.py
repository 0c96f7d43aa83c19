"""One timer per process drives every connection's keep-alive and timeouts.

Like the official server's 1 s heartbeat: cheaper than a timer per connection, and
the same tick reaps negotiated connections nobody uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol


class HubConnection(Protocol):
    """What the timer needs of a connection (``connection.HubConnection`` is one), without importing it."""

    @property
    def tick_interval(self) -> float: ...

    def tick(self, now: float, wall_now: float) -> None: ...


logger = logging.getLogger("django_hubs.heartbeat")


class Heartbeat:
    def __init__(self) -> None:
        self.connections: set[HubConnection] = set()
        self.hooks: list[Callable[[float, float], Any]] = []
        self.interval = 1.0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, connection: HubConnection) -> None:
        self.connections.add(connection)
        self.interval = min(self.interval, connection.tick_interval)
        self.ensure_running()

    def discard(self, connection: HubConnection) -> None:
        self.connections.discard(connection)

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._task = loop.create_task(self._run(), name="django_hubs.heartbeat")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.connections or self.hooks:
            await asyncio.sleep(self.interval)
            self._beat(loop.time(), time.time())

    def _beat(self, now: float, wall_now: float) -> None:
        # A frame of its own: a loop variable left in ``_run`` kept the last connection ticked
        # (closed or not) alive while the process idled.
        for connection in list(self.connections):
            try:
                connection.tick(now, wall_now)
            except Exception:
                logger.exception("heartbeat failed for %s", connection)
        for hook in list(self.hooks):
            try:
                hook(now, wall_now)
            except Exception:
                logger.exception("heartbeat hook %r failed", hook)


heartbeat = Heartbeat()
