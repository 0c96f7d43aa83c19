from django_hubs import Hub


class ChatHub(Hub):
    async def join(self, room: str) -> None:
        await self.groups.add(self.context.connection_id, room)

    async def send_to_room(self, room: str, message: str) -> None:
        await self.clients.group(room).send("ReceiveMessage", self.context.connection_id, message)

    async def whoami(self) -> str | None:
        user = self.context.user
        return user.get_username() if user.is_authenticated else None

    async def scope_value(self, key: str) -> str | None:
        """What the project's middleware put in the scope (``self.context.scope``)."""
        value = self.context.scope.get(key)
        return None if value is None else str(value)

    async def get_connection_id(self) -> str:
        return self.context.connection_id
