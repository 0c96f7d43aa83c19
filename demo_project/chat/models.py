"""What the chat keeps in the database: the messages of each room."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

#: How many messages a room shows when it is opened, or reopened after a reconnect.
HISTORY_LENGTH = 50


class Message(models.Model):
    room = models.CharField(max_length=32)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    text = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("sent_at", "id")
        indexes = (models.Index(fields=("room", "sent_at"), name="chat_room_sent_at"),)
        # The permission the hub's moderator actions require: @authorize(perms=["chat.moderate"]).
        permissions = (("moderate", "Can moderate chat rooms"),)

    def __str__(self) -> str:
        return f"{self.room}: {self.text[:40]}"

    def to_wire(self) -> dict[str, Any]:
        """The message as clients receive it (plain JSON types, so any hub protocol can carry it)."""
        return {
            "id": self.pk,
            "room": self.room,
            "author": self.author.get_username(),
            "text": self.text,
            "sent_at": self.sent_at.isoformat(),
        }

    @classmethod
    def recent(cls, room: str, limit: int = HISTORY_LENGTH) -> list[dict[str, Any]]:
        """The last ``limit`` messages of ``room``, oldest first."""
        latest = cls.objects.filter(room=room).select_related("author").order_by("-sent_at", "-id")[:limit]
        return [message.to_wire() for message in reversed(latest)]
