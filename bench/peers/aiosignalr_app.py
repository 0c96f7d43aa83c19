"""aiosignalr (the other Python SignalR server) doing the bench hub's work, as an ASGI app."""

from __future__ import annotations

from typing import Any

from aiosignalr.server import Hub, SignalRServer

GROUP = "bench"


class EchoHub(Hub):
    async def on_connected(self) -> None:
        # aiosignalr 0.1.1 registers a connection with its lifetime manager only after
        # on_connected returns, so groups.add() here raises "No connection with id";
        # registering it first (idempotent) is the workaround.
        await server.lifetime.on_connected(self.context.connection_id)
        await self.groups.add(GROUP)

    async def echo(self, payload: Any) -> Any:
        return payload

    async def broadcast(self, payload: Any) -> None:
        await self.clients.group(GROUP).send("message", payload)


server = SignalRServer(EchoHub)
app = server.asgi_app(path="/hub")
