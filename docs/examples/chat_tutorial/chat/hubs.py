from django_hubs import Hub, HubError


class ChatHub(Hub):
    async def on_connected(self):
        await self.groups.add(self.context.connection_id, "lobby")

    async def send_message(self, user: str, message: str) -> None:
        if not message.strip():
            raise HubError("Say something.")
        await self.clients.group("lobby").send("ReceiveMessage", user, message)
