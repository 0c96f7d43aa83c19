"""Stale database connections closed on a timer, for async hub methods that use the async ORM.

Django closes connections past ``CONN_MAX_AGE`` (or broken ones) at the start and end
of each request; Channels does it before every consumer message, in a worker thread,
which is most of a plain consumer's per-message cost. Sync hub methods get it around
each call (``database_sync_to_async``). The async ORM runs its queries in asgiref's
thread-sensitive thread, so one ``close_old_connections()`` there every
:data:`INTERVAL` seconds, while hub connections exist, keeps its connection fresh at a
cost that does not grow with traffic.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from .heartbeat import heartbeat

logger = logging.getLogger("django_hubs.db")

#: Seconds between two closes while hub connections exist.
INTERVAL = 10.0


class OldConnectionCloser:
    """A heartbeat hook that runs ``close_old_connections`` now and then, and leaves when idle."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.task: asyncio.Task[Any] | None = None
        self.runs = 0

    def __call__(self, now: float, wall_now: float) -> None:
        if not heartbeat.connections:
            self.stop()
            return
        if self.last is None:
            self.last = now
        loop = asyncio.get_running_loop()
        running = self.task is not None and not self.task.done() and self.task.get_loop() is loop
        if now - self.last < INTERVAL or running:
            return
        self.last = now
        self.task = loop.create_task(self._close(), name="django_hubs.close_old_connections")

    async def _close(self) -> None:
        try:
            await sync_to_async(close_old_connections, thread_sensitive=True)()
        except Exception:
            logger.exception("close_old_connections() failed")
        self.runs += 1

    def stop(self) -> None:
        if self in heartbeat.hooks:
            heartbeat.hooks.remove(self)
        self.last = None


closer = OldConnectionCloser()


def ensure_running() -> None:
    """Called when a hub connection starts: cheap when the hook is already installed."""
    if closer not in heartbeat.hooks:
        heartbeat.hooks.append(closer)
        heartbeat.ensure_running()
