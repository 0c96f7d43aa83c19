"""The soak hub (bench/soak.py): invocations, room broadcasts and a server stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from django_hubs import Hub


class SoakHub(Hub):
    async def echo(self, payload: Any) -> Any:
        return payload

    async def join(self, room: str) -> None:
        await self.groups.add(self.context.connection_id, room)

    async def broadcast(self, message: list[Any]) -> None:
        """``message`` is ``[room, sender, seq]``: every member of the room gets it."""
        await self.clients.group(message[0]).send("message", message)

    async def counter(self, count: int) -> AsyncIterator[int]:
        for n in range(count):
            yield n
