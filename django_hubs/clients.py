"""Client proxies (``self.clients.*``) and group management (``self.groups``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class HubLifetimeManager(Protocol):
    """What the proxies ask of the server's lifetime manager (``server.lifetime`` implements it).

    Declared here, below the server, so that hubs and their proxies never import the layer that runs them.
    """

    async def send(
        self, kind: str, names: tuple[str, ...], exclude: tuple[str, ...], method: str, args: list[Any]
    ) -> None: ...

    async def invoke(self, connection_id: str, method: str, args: list[Any], timeout: float | None) -> Any: ...

    async def add_to_group(self, connection_id: str, name: str) -> None: ...

    async def remove_from_group(self, connection_id: str, name: str) -> None: ...


def _ids(values: Iterable[Any]) -> tuple[str, ...]:
    if isinstance(values, str | int):
        values = (values,)
    return tuple(str(v) for v in values)


class ClientProxy:
    """Sends to a set of connections chosen when the proxy was made."""

    __slots__ = ("_exclude", "_kind", "_lifetime", "_names")

    def __init__(
        self, lifetime: HubLifetimeManager, kind: str, names: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
    ):
        self._lifetime = lifetime
        self._kind = kind
        self._names = names
        self._exclude = exclude

    async def send(self, method: str, *args: Any) -> None:
        """Call ``method`` on every targeted client, without waiting for an answer."""
        await self._lifetime.send(self._kind, self._names, self._exclude, method, list(args))

    def __repr__(self) -> str:
        return f"<ClientProxy {self._kind} {list(self._names)} except {list(self._exclude)}>"


class SingleClientProxy(ClientProxy):
    """One connection: it can also ``invoke`` a client method and await its result."""

    __slots__ = ()

    async def invoke(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """The value the client's handler for ``method`` returned.

        Raises ``HubError`` when the client's handler failed or is missing, when the
        connection does not exist or disconnects, and ``TimeoutError`` after ``timeout``
        seconds (``HUBS_CLIENT_RESULT_TIMEOUT`` by default).
        """
        return await self._lifetime.invoke(self._names[0], method, list(args), timeout)


class HubClients:
    """Every way to address clients of one hub, usable outside a hub (``get_hub_context``)."""

    __slots__ = ("_lifetime",)

    def __init__(self, lifetime: HubLifetimeManager) -> None:
        self._lifetime = lifetime

    @property
    def all(self) -> ClientProxy:
        return ClientProxy(self._lifetime, "all")

    def all_except(self, connection_ids: Iterable[str]) -> ClientProxy:
        return ClientProxy(self._lifetime, "all", exclude=_ids(connection_ids))

    def client(self, connection_id: str) -> SingleClientProxy:
        return SingleClientProxy(self._lifetime, "connections", (str(connection_id),))

    def connections(self, connection_ids: Iterable[str]) -> ClientProxy:
        return ClientProxy(self._lifetime, "connections", _ids(connection_ids))

    def group(self, name: str) -> ClientProxy:
        return ClientProxy(self._lifetime, "groups", (name,))

    def groups(self, names: Iterable[str]) -> ClientProxy:
        return ClientProxy(self._lifetime, "groups", _ids(names))

    def group_except(self, name: str, connection_ids: Iterable[str]) -> ClientProxy:
        return ClientProxy(self._lifetime, "groups", (name,), _ids(connection_ids))

    def user(self, user_id: str | int) -> ClientProxy:
        return ClientProxy(self._lifetime, "users", (str(user_id),))

    def users(self, user_ids: Iterable[str | int]) -> ClientProxy:
        return ClientProxy(self._lifetime, "users", _ids(user_ids))


class HubCallerClients(HubClients):
    """``HubClients`` plus the proxies relative to the calling connection."""

    __slots__ = ("_connection_id",)

    def __init__(self, lifetime: HubLifetimeManager, connection_id: str) -> None:
        super().__init__(lifetime)
        self._connection_id = connection_id

    @property
    def caller(self) -> SingleClientProxy:
        return self.client(self._connection_id)

    @property
    def others(self) -> ClientProxy:
        return self.all_except((self._connection_id,))

    def others_in_group(self, name: str) -> ClientProxy:
        return self.group_except(name, (self._connection_id,))


class GroupManager:
    __slots__ = ("_lifetime",)

    def __init__(self, lifetime: HubLifetimeManager) -> None:
        self._lifetime = lifetime

    async def add(self, connection_id: str, name: str) -> None:
        await self._lifetime.add_to_group(connection_id, name)

    async def remove(self, connection_id: str, name: str) -> None:
        await self._lifetime.remove_from_group(connection_id, name)


__all__ = ["ClientProxy", "GroupManager", "HubCallerClients", "HubClients", "HubLifetimeManager", "SingleClientProxy"]
