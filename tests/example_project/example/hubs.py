"""README's Quickstart ChatHub, and sync methods that use the ORM (they run in worker threads)."""

from django_hubs import Hub

from .models import Note


class ChatHub(Hub):
    async def on_connected(self):
        await self.groups.add(self.context.connection_id, "lobby")

    async def send_message(self, user: str, message: str) -> None:
        await self.clients.group("lobby").send("ReceiveMessage", user, message)

    async def add(self, a: int, b: int) -> int:
        return a + b

    def save_note(self, text: str) -> int:
        return Note.objects.create(text=text).pk

    def notes(self) -> list[str]:
        return list(Note.objects.order_by("pk").values_list("text", flat=True))

    def users(self) -> list[str]:
        from django.contrib.auth import get_user_model

        return list(get_user_model().objects.order_by("pk").values_list("username", flat=True))
