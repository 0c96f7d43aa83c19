"""The same echo and group broadcast as a hand-written Channels consumer, as users write it.

Wire format (plain JSON text frames): ``{"op": "echo"|"broadcast", "id": n, "payload": p}``
in; ``{"id": n, "result": p}`` (``null`` for a broadcast) and ``{"event": "message",
"payload": p}`` out.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

GROUP = "bench"


class EchoConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        request = json.loads(text_data or "")
        op = request.get("op")
        if op == "echo":
            await self.send(json.dumps({"id": request["id"], "result": request["payload"]}))
        elif op == "broadcast":
            await self.channel_layer.group_send(GROUP, {"type": "bench.message", "payload": request["payload"]})
            await self.send(json.dumps({"id": request["id"], "result": None}))

    async def bench_message(self, event: dict[str, Any]) -> None:
        await self.send(json.dumps({"event": "message", "payload": event["payload"]}))
