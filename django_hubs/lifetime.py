"""Who is connected to a hub, in which groups, as which user; and delivery to them.

Delivery to the connections of this process goes through the in-process registry:
a message is encoded once per hub protocol and appended to each target's outgoing
buffer, never one channel-layer hop per connection (see DESIGN.md, "Fan-out").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .errors import HubError
from .protocol.messages import InvocationMessage, Payload

if TYPE_CHECKING:
    from .connection import HubConnection

logger = logging.getLogger("django_hubs.lifetime")


class HubLifetimeManager:
    """The connections of one hub class held by this process."""

    def __init__(self, hub_name: str) -> None:
        self.hub_name = hub_name
        self.connections: dict[str, HubConnection] = {}
        self.groups: dict[str, dict[str, HubConnection]] = {}
        self.users: dict[str, dict[str, HubConnection]] = {}

    # --- membership -----------------------------------------------------------------

    def add_connection(self, connection: HubConnection) -> None:
        self.connections[connection.connection_id] = connection
        if connection.user_identifier is not None:
            self.users.setdefault(connection.user_identifier, {})[connection.connection_id] = connection

    def remove_connection(self, connection: HubConnection) -> None:
        connection_id = connection.connection_id
        self.connections.pop(connection_id, None)
        for name in connection.group_names:
            self._discard(self.groups, name, connection_id)
        connection.group_names.clear()
        if connection.user_identifier is not None:
            self._discard(self.users, connection.user_identifier, connection_id)

    @staticmethod
    def _discard(index: dict[str, dict[str, HubConnection]], key: str, connection_id: str) -> None:
        members = index.get(key)
        if members is not None:
            members.pop(connection_id, None)
            if not members:
                del index[key]

    async def add_to_group(self, connection_id: str, name: str) -> None:
        connection = self.connections.get(connection_id)
        if connection is None:
            logger.debug("add_to_group: no connection %s in this process", connection_id)
            return
        self.groups.setdefault(name, {})[connection_id] = connection
        connection.group_names.add(name)

    async def remove_from_group(self, connection_id: str, name: str) -> None:
        connection = self.connections.get(connection_id)
        if connection is None:
            return
        self._discard(self.groups, name, connection_id)
        connection.group_names.discard(name)

    # --- delivery -------------------------------------------------------------------

    def targets(self, kind: str, names: Iterable[str], exclude: Iterable[str]) -> list[HubConnection]:
        """The local connections a proxy addresses, each once."""
        if kind == "all":
            found = self.connections
        elif kind == "connections":
            found = {n: c for n in names if (c := self.connections.get(n)) is not None}
        else:
            index = self.groups if kind == "groups" else self.users
            found = {}
            for name in names:
                members = index.get(name)
                if members:
                    found.update(members)
        if exclude:
            excluded = set(exclude)
            return [c for cid, c in found.items() if cid not in excluded]
        return list(found.values())

    async def send(
        self, kind: str, names: tuple[str, ...], exclude: tuple[str, ...], method: str, args: list[Any]
    ) -> None:
        payload = Payload(InvocationMessage(method, args))
        for connection in self.targets(kind, names, exclude):
            connection.send_payload(payload)

    async def invoke(self, connection_id: str, method: str, args: list[Any], timeout: float | None) -> Any:
        connection = self.connections.get(connection_id)
        if connection is None:
            raise HubError(f"Connection '{connection_id}' does not exist.")
        return await connection.dispatcher.invoke_client(method, args, timeout)
