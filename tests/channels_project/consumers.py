import json

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    """The project's own consumer: echoes what it gets, with who sent it and its middleware's mark."""

    async def connect(self):
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        user = self.scope["user"]
        answer = {"echo": text_data, "user": user.get_username() or None, "project": self.scope.get("project")}
        await self.send(text_data=json.dumps(answer))
