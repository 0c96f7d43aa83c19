"""Who is connected to a hub, in which groups, as which user; and delivery to them.

Delivery to the connections of this process goes through the in-process registry:
a message is encoded once per hub protocol and appended to each target's outgoing
buffer, never one channel-layer hop per connection (see DESIGN.md, "Fan-out").
With a shared channel layer (Redis) the :mod:`~django_hubs.backplane` carries each
send once to every other process that holds targets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from ..errors import HubError
from ..protocol.messages import InvocationMessage, Payload
from .backplane import REPLY_TIMEOUT, Backplane, _pack, _unpack, get_backplane, new_message_id


class ClientInvoker(Protocol):
    async def invoke_client(self, method: str, arguments: list[Any], timeout: float | None) -> Any: ...


class HubConnection(Protocol):
    """What the registry needs of a connection (``connection.HubConnection`` is one).

    A protocol, so that the registry and the connection that registers itself in it do not import each other.
    """

    connection_id: str
    user_identifier: str | None
    group_names: set[str]
    scope: dict[str, Any]
    transport: str
    endpoint: Any

    @property
    def dispatcher(self) -> ClientInvoker: ...

    @property
    def protocol(self) -> Any: ...

    def send_payload(self, payload: Payload) -> None: ...

    def close_nowait(self, error: str | None = None, allow_reconnect: bool = False) -> None: ...


logger = logging.getLogger("django_hubs.lifetime")

_UNSET: Any = object()


class HubLifetimeManager:
    """The connections of one hub class held by this process, and the way to all others."""

    def __init__(self, hub_name: str) -> None:
        self.hub_name = hub_name
        self.connections: dict[str, HubConnection] = {}
        self.groups: dict[str, dict[str, HubConnection]] = {}
        self.users: dict[str, dict[str, HubConnection]] = {}
        self._backplane: Backplane | None = _UNSET

    @property
    def backplane(self) -> Backplane | None:
        if self._backplane is _UNSET:
            self._backplane = get_backplane()
            if self._backplane is not None:
                self._backplane.managers[self.hub_name] = self
        return self._backplane

    def reset_backplane(self) -> None:
        """Forget the layer (``CHANNEL_LAYERS`` changed, in tests)."""
        self._backplane = _UNSET

    def _group(self, kind: str, name: str = "") -> str:
        return Backplane.group_of(self.hub_name, kind, name)

    # --- membership -----------------------------------------------------------------

    async def add_connection(self, connection: HubConnection) -> None:
        connection_id = connection.connection_id
        self.connections[connection_id] = connection
        user = connection.user_identifier
        first_of_user = False
        if user is not None:
            members = self.users.setdefault(user, {})
            first_of_user = not members
            members[connection_id] = connection
        backplane = self.backplane
        if backplane is not None:
            all_group = self._group("all")
            if all_group not in backplane.memberships:
                await backplane.join(all_group)
            await backplane.join(self._group("c", connection_id))
            if first_of_user and user is not None:
                await backplane.join(self._group("u", user))

    async def remove_connection(self, connection: HubConnection) -> None:
        connection_id = connection.connection_id
        self.connections.pop(connection_id, None)
        emptied = [name for name in connection.group_names if self._discard(self.groups, name, connection_id)]
        connection.group_names.clear()
        user = connection.user_identifier
        user_gone = user is not None and self._discard(self.users, user, connection_id)
        backplane = self.backplane
        if backplane is not None:
            await backplane.leave(self._group("c", connection_id))
            for name in emptied:
                await backplane.leave(self._group("g", name))
            if user_gone and user is not None:
                await backplane.leave(self._group("u", user))

    @staticmethod
    def _discard(index: dict[str, dict[str, HubConnection]], key: str, connection_id: str) -> bool:
        """Remove a member; whether that emptied ``key``."""
        members = index.get(key)
        if members is None:
            return False
        members.pop(connection_id, None)
        if members:
            return False
        del index[key]
        return True

    async def change_local_group(self, op: str, connection_id: str, name: str) -> bool:
        """Add or remove a connection of this process; ``False`` if it is not here."""
        connection = self.connections.get(connection_id)
        if connection is None:
            return False
        backplane = self.backplane
        if op == "add":
            members = self.groups.setdefault(name, {})
            first = not members
            members[connection_id] = connection
            connection.group_names.add(name)
            if first and backplane is not None:
                await backplane.join(self._group("g", name))
        else:
            connection.group_names.discard(name)
            if self._discard(self.groups, name, connection_id) and backplane is not None:
                await backplane.leave(self._group("g", name))
        return True

    async def _change_group(self, op: str, connection_id: str, name: str) -> None:
        if await self.change_local_group(op, connection_id, name):
            return
        backplane = self.backplane
        if backplane is None:
            logger.debug("group %s: no connection %s", op, connection_id)
            return
        message = {"type": "hubs.group", "hub": self.hub_name, "op": op, "connection": connection_id, "group": name}
        if await backplane.request(self._group("c", connection_id), message, REPLY_TIMEOUT) is None:
            logger.warning("group %s %r: no process answered for connection %s", op, name, connection_id)

    async def add_to_group(self, connection_id: str, name: str) -> None:
        await self._change_group("add", connection_id, name)

    async def remove_from_group(self, connection_id: str, name: str) -> None:
        await self._change_group("remove", connection_id, name)

    # --- delivery -------------------------------------------------------------------

    def targets(self, kind: str, names: Iterable[str], exclude: Iterable[str]) -> list[HubConnection]:
        """The local connections a proxy addresses, each once."""
        found: dict[str, HubConnection]
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

    def deliver_local(
        self, kind: str, names: tuple[str, ...], exclude: tuple[str, ...], method: str, args: list[Any]
    ) -> None:
        targets = self.targets(kind, names, exclude)
        if not targets:
            return
        payload = Payload(InvocationMessage(method, args))
        failure: Exception | None = None
        for connection in targets:
            try:
                connection.send_payload(payload)
            except (TypeError, ValueError, OverflowError) as exc:
                # A value one protocol cannot write (an int over 64 bits in MessagePack)
                # must not cost the connections after this one their copy; the caller
                # hears of it once everyone else has theirs.
                failure = failure or exc
        if failure is not None:
            raise failure

    def _remote_groups(self, kind: str, names: tuple[str, ...]) -> list[str]:
        if kind == "all":
            return [self._group("all")]
        if kind == "connections":
            return [self._group("c", n) for n in names if n not in self.connections]
        return [self._group("g" if kind == "groups" else "u", n) for n in names]

    async def send(
        self, kind: str, names: tuple[str, ...], exclude: tuple[str, ...], method: str, args: list[Any]
    ) -> None:
        self.deliver_local(kind, names, exclude, method, args)
        backplane = self.backplane
        if backplane is None:
            return
        groups = self._remote_groups(kind, names)
        if not groups:
            return
        message = {
            "type": "hubs.send",
            "hub": self.hub_name,
            "origin": backplane.channel,
            "id": new_message_id(),
            "kind": kind,
            "names": list(names),
            "exclude": list(exclude),
            "method": method,
            "args": _pack(args),
        }
        for group in groups:
            await backplane.publish(group, message)

    async def abort(self, connection_id: str) -> None:
        """Close a connection without reconnect, here or (once) on the process that holds it."""
        if self.abort_local(connection_id):
            return
        backplane = self.backplane
        if backplane is None:
            logger.debug("abort: no connection %s", connection_id)
            return
        message = {"type": "hubs.abort", "hub": self.hub_name, "connection": connection_id}
        await backplane.publish(self._group("c", connection_id), message)

    def abort_local(self, connection_id: str) -> bool:
        """``False`` if the connection is not held by this process."""
        connection = self.connections.get(connection_id)
        if connection is None:
            return False
        logger.info("aborting %s from outside the hub", connection_id)
        connection.close_nowait(allow_reconnect=False)
        return True

    async def invoke(self, connection_id: str, method: str, args: list[Any], timeout: float | None) -> Any:
        connection = self.connections.get(connection_id)
        if connection is not None:
            return await connection.dispatcher.invoke_client(method, args, timeout)
        backplane = self.backplane
        if backplane is None:
            raise HubError(f"Connection '{connection_id}' does not exist.")
        from ..conf import get

        wait = timeout if timeout is not None else get("HUBS_CLIENT_RESULT_TIMEOUT")
        request = {
            "type": "hubs.invoke",
            "hub": self.hub_name,
            "connection": connection_id,
            "method": method,
            "args": _pack(args),
            "timeout": wait,
        }
        reply = await backplane.request(self._group("c", connection_id), request, wait + 1.0)
        if reply is None:
            raise HubError(f"Connection '{connection_id}' does not exist.")
        if "error" in reply:
            if reply.get("error_type") == "TimeoutError":
                raise TimeoutError(reply["error"])
            raise HubError(reply["error"])
        return _unpack(reply["result"])
