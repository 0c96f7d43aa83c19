"""The hub of the authentication-refresh tests (tests/test_refresh.py, tests/interop/test_refresh_live.py)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from django_hubs import Hub

#: ``(connection id, previous user id, new user id)`` of every refresh the hook saw, in this process.
refreshes: list[tuple[str, str | None, str | None]] = []
#: Connection ids whose next refresh the hook refuses.
refuse: set[str] = set()


class RefreshHub(Hub):
    async def on_authentication_refreshed(self, previous_user: Any, user: Any) -> None:
        connection_id = self.context.connection_id
        if connection_id in refuse:
            raise PermissionDenied("This hub refuses the refresh.")
        refreshes.append((connection_id, self.get_user_identifier(previous_user), self.get_user_identifier(user)))

    async def connection_id(self) -> str:
        return self.context.connection_id

    async def whoami(self) -> str | None:
        return self.context.user_identifier

    async def same_user_object(self) -> bool:
        """Whether the context's user is the user of the scope (both change on a refresh)."""
        return self.context.user is self.context.scope["user"]

    async def hook_calls(self) -> list[list[str | None]]:
        return [[old, new] for connection_id, old, new in refreshes if connection_id == self.context.connection_id]

    async def join(self, group: str) -> None:
        await self.groups.add(self.context.connection_id, group)

    async def to_group(self, group: str, message: str) -> None:
        await self.clients.group(group).send("Group", message)

    async def to_user(self, user_id: str, message: str) -> None:
        await self.clients.user(user_id).send("User", message)
