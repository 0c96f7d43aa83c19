from django_hubs import Hub


class ChatHub(Hub):
    async def on_connected(self) -> None:
        await self.groups.add(self.context.connection_id, "lobby")

    async def send_message(self, user: str, message: str) -> None:
        await self.clients.group("lobby").send("ReceiveMessage", user, message)
