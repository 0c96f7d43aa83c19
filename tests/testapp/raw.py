"""Raw connection handlers of the tests (tests/test_connections.py, tests/interop/test_raw_connections.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django_hubs import authorize
from django_hubs.connections import ConnectionHandler

#: ``(event, connection id, detail)`` in order, for the in-process tests.
events: list[tuple[str, str, Any]] = []
#: Ids whose ``on_disconnected`` ran, with the exception's type name (or None), for the live tests.
left: dict[str, str | None] = {}
_tasks: set[asyncio.Task[None]] = set()


class EchoHandler(ConnectionHandler):
    """Greets, echoes each message as it came (text or binary), and obeys a few commands."""

    async def on_connected(self) -> None:
        events.append(("connected", self.connection_id, self.transport))
        await self.send("welcome")

    async def receive(self, data: str | bytes) -> None:
        events.append(("received", self.connection_id, data))
        if data == "close":
            await self.close()
        elif data == "raise":
            raise RuntimeError("the handler failed")
        elif data == "later":
            # A send of the server's own, outside any receive.
            task = asyncio.get_running_loop().create_task(self._later())
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)
        elif data == "twice":
            await self.send("one")
            await self.send("two")
        elif data == "left":
            await self.send(json.dumps(left))
        elif data == "bytes":
            try:
                await self.send(b"\x00bin")
            except TypeError as exc:
                await self.send(f"TypeError: {exc}")
        elif isinstance(data, str) and data.startswith("flood:"):
            for _ in range(int(data.removeprefix("flood:"))):
                await self.send("x" * 1024)
        elif data == "whoami":
            await self.send(json.dumps({"id": self.connection_id, "user": self.user_identifier}))
        else:
            await self.send(data)

    async def _later(self) -> None:
        await asyncio.sleep(0.01)
        await self.send("on my own")

    async def on_disconnected(self, exception: BaseException | None) -> None:
        name = type(exception).__name__ if exception is not None else None
        events.append(("disconnected", self.connection_id, name))
        left[self.connection_id] = name


class FailingConnectHandler(ConnectionHandler):
    async def on_connected(self) -> None:
        raise RuntimeError("cannot start")


@authorize
class PrivateHandler(EchoHandler):
    """Only for signed-in users."""
