"""Several server processes as one hub, over the channel layer (``channels_redis``).

Each process that holds connections owns one layer channel and joins layer groups
for what it holds: the hub's "all" group, one group per hub group with local members,
one per user and one per connection. A send is delivered locally at once and published
as **one** layer message per targeted layer group, so every other process that holds
targets gets it once and fans it out locally (as SignalR's Redis backplane publishes
once per server). Nothing here is a broker of its own: it is the channel layer's API.

Guarantees are the layer's: at most once. With the in-memory layer (one process) there
is no backplane at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import msgpack

from ..protocol.json import to_jsonable
from .heartbeat import heartbeat


class HubLifetimeManager(Protocol):
    """What the reader hands other processes' messages to (``lifetime.HubLifetimeManager`` is one).

    A protocol: the lifetime manager publishes through the backplane, so the backplane must not import it.
    """

    connections: dict[str, Any]

    def deliver_local(
        self, kind: str, names: tuple[str, ...], exclude: tuple[str, ...], method: str, args: list[Any]
    ) -> None: ...

    async def change_local_group(self, op: str, connection_id: str, name: str) -> bool: ...

    def abort_local(self, connection_id: str) -> bool: ...

    async def invoke(self, connection_id: str, method: str, args: list[Any], timeout: float | None) -> Any: ...


logger = logging.getLogger("django_hubs.backplane")

CHANNEL_PREFIX = "hubs-process"
#: Messages a process channel may hold before the layer drops them; raised on
#: channels_redis layers because one process channel carries every broadcast.
PROCESS_CHANNEL_CAPACITY = 100_000
#: How long a process waits for another to confirm a group change or a client result.
REPLY_TIMEOUT = 5.0
#: Layer group memberships expire (channels_redis: ``group_expiry``, a day by default);
#: a live process renews its own well before that.
RENEW_INTERVAL = 600.0


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, default=to_jsonable, datetime=True, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, timestamp=3)


def _key(text: str) -> str:
    """Layer group names allow few characters and < 100 of them: hash what users chose."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def get_backplane() -> Backplane | None:
    """The backplane of the configured channel layer, or ``None`` for a single process."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    try:
        layer = get_channel_layer()
    except Exception:  # a broken CHANNEL_LAYERS setting: say so once, run single-process
        logger.exception("cannot load the channel layer; running without a backplane")
        return None
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None
    backplane = _backplanes.get(id(layer))
    if backplane is None or backplane.layer is not layer:
        backplane = _backplanes[id(layer)] = Backplane(layer)
    return backplane


_backplanes: dict[int, Backplane] = {}


RemoteHandler = Callable[[Any, dict[str, Any], "str | None"], None]
_handlers: dict[str, RemoteHandler] = {}


def register_handler(kind: str, handler: RemoteHandler) -> None:
    """Handle messages of type ``kind`` from other processes: ``handler(lifetime, message, own_channel)``.

    Layers above the server add their own message types this way (the sessions' logout and
    password change), so the server never imports them.
    """
    _handlers[kind] = handler


class Backplane:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.managers: dict[str, HubLifetimeManager] = {}
        #: Layer groups this process belongs to, for renewal and for resync after an outage.
        self.memberships: set[str] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._needs_resync = False
        self._reader: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._raise_capacity()

    def _raise_capacity(self) -> None:
        import re

        capacities = getattr(self.layer, "channel_capacity", None)
        if isinstance(capacities, list) and not any(p.match(f"{CHANNEL_PREFIX}.x") for p, _ in capacities):
            capacities.insert(0, (re.compile(rf"^{re.escape(CHANNEL_PREFIX)}\..*"), PROCESS_CHANNEL_CAPACITY))

    # --- layer group names ----------------------------------------------------------

    @staticmethod
    def group_of(hub: str, kind: str, name: str = "") -> str:
        return f"hubs.{_key(hub)}.{kind}" + (f".{_key(name)}" if name else "")

    # --- this process's channel -------------------------------------------------------

    async def ensure_started(self) -> str:
        loop = asyncio.get_running_loop()
        if self.channel is None or self._loop is not loop or self._reader is None or self._reader.done():
            if self.channel is None or self._loop is not loop:
                self.channel = await self.layer.new_channel(CHANNEL_PREFIX)
                self.memberships.clear()
            self._loop = loop
            self._reader = loop.create_task(self._read(), name="django_hubs.backplane")
            self._renewed = loop.time()
            if self._tick not in heartbeat.hooks:
                heartbeat.hooks.append(self._tick)
                heartbeat.ensure_running()
        return self.channel

    async def join(self, group: str) -> None:
        channel = await self.ensure_started()
        self.memberships.add(group)
        try:
            await self.layer.group_add(group, channel)
        except Exception as exc:
            logger.error("backplane: cannot join %s (%r); retrying after the layer recovers", group, exc)
            self._needs_resync = True

    async def leave(self, group: str) -> None:
        self.memberships.discard(group)
        if self.channel is None:
            return
        try:
            await self.layer.group_discard(group, self.channel)
        except Exception as exc:
            logger.error("backplane: cannot leave %s (%r)", group, exc)

    async def publish(self, group: str, message: dict[str, Any]) -> bool:
        try:
            await self.layer.group_send(group, message)
        except Exception as exc:
            logger.error("backplane: publishing to %s failed (%r); other processes miss this message", group, exc)
            return False
        return True

    # --- requests that want an answer from the process holding a connection -----------

    async def request(self, group: str, message: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send to ``group`` and wait for one reply on a fresh channel; ``None`` on timeout."""
        # One prefix for every channel of this process: channels_redis reads them all with
        # one blocking pop, so a reply is found even while the backplane reader waits.
        reply = await self.layer.new_channel(CHANNEL_PREFIX)
        if not await self.publish(group, {**message, "reply": reply}):
            return None
        try:
            return await asyncio.wait_for(self.layer.receive(reply), timeout)
        except TimeoutError:
            return None

    async def answer(self, message: dict[str, Any], body: dict[str, Any]) -> None:
        try:
            await self.layer.send(message["reply"], {"type": "hubs.reply", **body})
        except Exception as exc:
            logger.error("backplane: cannot answer a request (%r)", exc)

    # --- reading --------------------------------------------------------------------

    async def _read(self) -> None:
        delay = 0.5
        while True:
            if self._needs_resync and not await self._resync():
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._needs_resync:
                    logger.error("backplane: the channel layer failed (%r); retrying until it is back", exc)
                self._needs_resync = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.5
            try:
                await self._handle(message)
            except Exception:
                logger.exception("backplane: handling %s failed", message.get("type"))

    async def _resync(self) -> bool:
        """Join every group again (a restarted Redis has forgotten them); ``False`` if it fails."""
        try:
            for group in list(self.memberships):
                await self.layer.group_add(group, self.channel)
        except Exception:
            return False
        if self._needs_resync:
            logger.info("backplane: the channel layer is back; %d groups joined again", len(self.memberships))
        self._needs_resync = False
        return True

    def _tick(self, now: float, wall_now: float) -> None:
        """Re-join before ``group_expiry`` ends the memberships of a long-lived process."""
        if now - self._renewed >= RENEW_INTERVAL and self._loop is asyncio.get_running_loop():
            self._renewed = now
            task = self._loop.create_task(self._resync())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _seen(self, message_id: str) -> bool:
        if message_id in self._recent:
            return True
        self._recent[message_id] = None
        if len(self._recent) > 4096:
            self._recent.popitem(last=False)
        return False

    async def _handle(self, message: dict[str, Any]) -> None:
        manager = self.managers.get(message.get("hub", ""))
        if manager is None:
            return
        kind = message["type"]
        if kind == "hubs.send":
            if message.get("origin") == self.channel or self._seen(message["id"]):
                return
            manager.deliver_local(
                message["kind"],
                tuple(message["names"]),
                tuple(message["exclude"]),
                message["method"],
                _unpack(message["args"]),
            )
        elif kind == "hubs.group":
            done = await manager.change_local_group(message["op"], message["connection"], message["group"])
            if done and message.get("reply"):
                await self.answer(message, {"ok": True})
        elif kind == "hubs.abort":
            manager.abort_local(message["connection"])
        elif (handler := _handlers.get(kind)) is not None:
            handler(manager, message, self.channel)
        elif kind == "hubs.invoke" and message["connection"] in manager.connections:
            # The client may take a while: never stall this process's reader on it.
            task = asyncio.get_running_loop().create_task(self._invoke(manager, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _invoke(self, manager: HubLifetimeManager, message: dict[str, Any]) -> None:
        try:
            result = await manager.invoke(
                message["connection"], message["method"], _unpack(message["args"]), message.get("timeout")
            )
        except Exception as exc:
            await self.answer(message, {"error": str(exc), "error_type": type(exc).__name__})
        else:
            await self.answer(message, {"result": _pack(result)})


def new_message_id() -> str:
    return uuid.uuid4().hex


__all__ = ["Backplane", "_pack", "_unpack", "get_backplane", "new_message_id"]
