"""The chat hub: rooms, presence, typing, private messages, a stream and a moderator action.

Every public method here is callable from the browser (``connection.invoke("SendMessage", ...)``
reaches ``send_message``). Server-to-client calls, which the page handles with
``connection.on(...)``:

- ``ReceiveMessage(message)``: a new message in a room you joined;
- ``Presence(room, usernames)``: who is in a room, after anyone joins or leaves it;
- ``OnlineUsers(usernames)``: everyone connected to the hub;
- ``Typing(room, username)``: someone else is typing in a room;
- ``PrivateMessage(message)``: a private message to or from you, on every tab of yours;
- ``RoomCleared(room, moderator)``: a moderator deleted the room's messages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from django_hubs import Hub, HubError, authorize

from .models import Message
from .presence import presence

ROOM_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MAX_MESSAGE_LENGTH = 1000
MAX_TASK_STEPS = 100


def room_name(value: str) -> str:
    """A room's canonical name, or a ``HubError`` the page shows as it is."""
    room = value.strip().lower()
    if not ROOM_NAME.fullmatch(room):
        raise HubError("A room name is 1 to 32 letters, digits or dashes.")
    return room


def message_text(value: str) -> str:
    text = value.strip()
    if not text:
        raise HubError("The message is empty.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise HubError(f"A message is at most {MAX_MESSAGE_LENGTH} characters.")
    return text


@database_sync_to_async
def save_message(room: str, author: Any, text: str) -> dict[str, Any]:
    return Message.objects.create(room=room, author=author, text=text).to_wire()


@database_sync_to_async
def delete_messages(room: str) -> int:
    deleted, _ = Message.objects.filter(room=room).delete()
    return deleted


@authorize  # signed-in users only: anonymous clients get 401 from negotiate
class ChatHub(Hub):
    class Client(Protocol):
        """What the page handles with ``connection.on(...)`` (``manage.py hubs_typescript`` types it)."""

        def ReceiveMessage(self, message: dict[str, Any]) -> None: ...

        def Presence(self, room: str, usernames: list[str]) -> None: ...

        def OnlineUsers(self, usernames: list[str]) -> None: ...

        def Typing(self, room: str, username: str) -> None: ...

        def PrivateMessage(self, message: dict[str, Any]) -> None: ...

        def RoomCleared(self, room: str, moderator: str) -> None: ...

    @classmethod
    def get_user_identifier(cls, user: Any) -> str | None:
        """Address users by username, so ``self.clients.user("grace")`` reaches all of grace's tabs."""
        if user is None or not user.is_authenticated:
            return None
        return user.get_username()

    @property
    def username(self) -> str:
        return self.context.user.get_username()

    @property
    def rooms(self) -> set[str]:
        """The rooms this connection joined (``context.items`` lives as long as the connection)."""
        return self.context.items.setdefault("rooms", set())

    # --- connecting ---------------------------------------------------------------------

    async def on_connected(self) -> None:
        presence.connect(self.context.connection_id, self.username)
        await self.clients.all.send("OnlineUsers", presence.everyone())

    async def on_disconnected(self, exception: BaseException | None) -> None:
        # django-hubs has already taken the connection out of its groups.
        for room in presence.disconnect(self.context.connection_id):
            await self.clients.group(room).send("Presence", room, presence.in_room(room))
        await self.clients.all.send("OnlineUsers", presence.everyone())

    # --- rooms ----------------------------------------------------------------------------

    async def join(self, room: str) -> dict[str, Any]:
        """Enter a room: its messages reach you from now on. Returns who is there."""
        room = room_name(room)
        await self.groups.add(self.context.connection_id, room)
        self.rooms.add(room)
        presence.join(room, self.context.connection_id, self.username)
        online = presence.in_room(room)
        await self.clients.group(room).send("Presence", room, online)
        return {"room": room, "online": online}

    async def leave(self, room: str) -> None:
        room = room_name(room)
        await self.groups.remove(self.context.connection_id, room)
        self.rooms.discard(room)
        presence.leave(room, self.context.connection_id)
        await self.clients.group(room).send("Presence", room, presence.in_room(room))

    def history(self, room: str) -> list[dict[str, Any]]:
        """The room's recent messages, oldest first.

        A plain ``def``: django-hubs runs it in a worker thread, where the ORM works
        as in a view. The page calls it on joining and after every reconnect, so
        nothing said while it was away is missing.
        """
        return Message.recent(room_name(room))

    async def send_message(self, room: str, text: str) -> dict[str, Any]:
        """Store a message and show it to everyone in the room; returns it as stored."""
        room = room_name(room)
        if room not in self.rooms:
            raise HubError(f"Join {room} before writing there.")
        message = await save_message(room, self.context.user, message_text(text))
        await self.clients.group(room).send("ReceiveMessage", message)
        return message

    async def typing(self, room: str) -> None:
        """Tell the others in the room you are typing; the page sends it at most every few seconds."""
        room = room_name(room)
        if room in self.rooms:
            await self.clients.others_in_group(room).send("Typing", room, self.username)

    # --- private messages -----------------------------------------------------------------

    async def send_private(self, to: str, text: str) -> dict[str, Any]:
        """A message for one user only, shown on all of their tabs and all of the sender's."""
        if not presence.is_online(to):
            raise HubError(f"{to} is not online.")
        message = {
            "from": self.username,
            "to": to,
            "text": message_text(text),
            "sent_at": timezone.now().isoformat(),
        }
        await self.clients.users([to, self.username]).send("PrivateMessage", message)
        return message

    # --- a long task, streamed ------------------------------------------------------------

    async def long_task(self, steps: int = 20) -> AsyncIterator[dict[str, int]]:
        """Progress of a slow job, one item per step (``connection.stream("LongTask", 20)``).

        The page can cancel it (``subscription.dispose()``): the generator is then
        closed at its current ``await``.
        """
        if not 1 <= steps <= MAX_TASK_STEPS:
            raise HubError(f"A task has 1 to {MAX_TASK_STEPS} steps.")
        delay = float(getattr(settings, "DEMO_TASK_STEP_SECONDS", 0.15))
        for step in range(1, steps + 1):
            await asyncio.sleep(delay)
            yield {"step": step, "total": steps, "percent": round(100 * step / steps)}

    # --- moderation -----------------------------------------------------------------------

    @authorize(perms=["chat.moderate"])
    async def clear_room(self, room: str) -> int:
        """Delete a room's messages. Others get the generic 'unauthorized' error text."""
        room = room_name(room)
        deleted = await delete_messages(room)
        await self.clients.group(room).send("RoomCleared", room, self.username)
        return deleted
