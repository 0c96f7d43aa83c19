"""The bench hub: the smallest hub that exercises invocation and group fan-out."""

from __future__ import annotations

from typing import Any

from django_hubs import Hub

GROUP = "bench"


class EchoHub(Hub):
    async def on_connected(self) -> None:
        await self.groups.add(self.context.connection_id, GROUP)

    async def echo(self, payload: Any) -> Any:
        return payload

    async def broadcast(self, payload: Any) -> None:
        await self.clients.group(GROUP).send("message", payload)
