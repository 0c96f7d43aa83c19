"""README's Quickstart ChatHub, and sync methods that use the ORM (they run in worker threads)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from django_hubs import Hub

from .models import Note

# A pool of the project's own, which (unlike Channels' database_sync_to_async) never closes the
# connections its threads open: the plugin must not depend on how sync code reaches a thread.
POOL = ThreadPoolExecutor(2, thread_name_prefix="example-pool")


class ChatHub(Hub):
    async def on_connected(self):
        await self.groups.add(self.context.connection_id, "lobby")

    async def send_message(self, user: str, message: str) -> None:
        await self.clients.group("lobby").send("ReceiveMessage", user, message)

    async def add(self, a: int, b: int) -> int:
        return a + b

    def save_note(self, text: str) -> int:
        return Note.objects.create(text=text).pk

    async def save_note_in_pool(self, text: str) -> int:
        return await asyncio.get_running_loop().run_in_executor(POOL, self.save_note, text)

    def notes(self) -> list[str]:
        return list(Note.objects.order_by("pk").values_list("text", flat=True))

    def users(self) -> list[str]:
        from django.contrib.auth import get_user_model

        return list(get_user_model().objects.order_by("pk").values_list("username", flat=True))
