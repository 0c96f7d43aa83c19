"""An in-process SignalR client for your own tests, speaking the real protocol.

It drives the WebSocket transport through Channels' ``WebsocketCommunicator``, so a test
needs no server and no sockets::

    import pytest
    from django_hubs.testing import HubClient

    @pytest.mark.django_hubs
    async def test_add():
        async with HubClient("hubs/chat") as client:
            assert await client.invoke("Add", 1, 2) == 3

The marker comes with django-hubs' pytest plugin (``django_hubs.pytest_plugin``): it runs the
test on an event loop and gives it a database the hub's worker threads share, without leaks
between tests.

Pass ``user=`` to connect as a Django user (it becomes ``scope["user"]``), ``query=`` for
a query string and ``protocol="messagepack"`` for the binary protocol.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from .protocol import PROTOCOLS
from .protocol.messages import (
    CloseMessage,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    PingMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)

__all__ = ["HandshakeRefusedError", "HubClient", "HubInvocationError"]


class HandshakeRefusedError(ConnectionError):
    """The server answered the handshake with an error; ``str(self)`` is its text."""


class HubInvocationError(Exception):
    """The server answered an invocation with an error; ``str(self)`` is its text."""


class _Stream:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[StreamItemMessage | CompletionMessage] = asyncio.Queue()


class HubClient:
    def __init__(
        self,
        path: str,
        *,
        protocol: str = "json",
        query: str = "",
        user: Any = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        application: Any = None,
        timeout: float = 5.0,
    ) -> None:
        from channels.testing import WebsocketCommunicator

        if application is None:
            from .transports.websocket import WebSocketTransport

            application = WebSocketTransport()
        if user is not None:
            application = _with_user(application, user)
        url = "/" + path.strip("/") + (f"?{query}" if query else "")
        self.communicator = WebsocketCommunicator(application, url, headers=headers)
        self.protocol = PROTOCOLS[protocol]
        self.timeout = timeout
        #: Server-to-client invocations not taken by ``receive``, in arrival order.
        self.messages: asyncio.Queue[InvocationMessage] = asyncio.Queue()
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.close_message: CloseMessage | None = None
        self.closed = asyncio.Event()
        self._ids = itertools.count()
        self._pending: dict[str, asyncio.Future[CompletionMessage]] = {}
        self._streams: dict[str, _Stream] = {}
        self._buffer = bytearray()
        self._reader: asyncio.Task[None] | None = None

    # --- connecting -----------------------------------------------------------------

    async def connect(self) -> HubClient:
        """Open the socket and complete the handshake; ``ConnectionRefusedError`` if refused."""
        connected, _ = await self.communicator.connect(self.timeout)
        if not connected:
            raise ConnectionRefusedError("the server refused the WebSocket")
        request = {"protocol": self.protocol.name, "version": 1}
        await self.communicator.send_to(text_data=json.dumps(request) + "\x1e")
        while (end := self._buffer.find(b"\x1e")) < 0:
            self._buffer += await self._receive_bytes(self.timeout)
        response = json.loads(bytes(self._buffer[:end]))
        del self._buffer[: end + 1]
        if response.get("error"):
            raise HandshakeRefusedError(response["error"])
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aenter__(self) -> HubClient:
        return await self.connect()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Send a Close message and wait for the server to end the connection."""
        if not self.closed.is_set():
            try:
                await self.send_message(CloseMessage())
                await asyncio.wait_for(self.closed.wait(), self.timeout)
            except (TimeoutError, RuntimeError):
                pass
        if self._reader is not None:
            self._reader.cancel()
        await self.communicator.disconnect()

    # --- calling the hub --------------------------------------------------------------

    async def send_message(self, message: HubMessage) -> None:
        data = self.protocol.encode(message)
        if self.protocol.binary:
            await self.communicator.send_to(bytes_data=data)
        else:
            await self.communicator.send_to(text_data=data.decode())

    async def invoke(
        self, target: str, *args: Any, timeout: float | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        """The method's result; ``HubInvocationError`` with the server's text on failure.

        ``headers`` go in the message as the .NET client's do (``traceparent``, ``tracestate``).
        """
        invocation_id = str(next(self._ids))
        future: asyncio.Future[CompletionMessage] = asyncio.get_running_loop().create_future()
        self._pending[invocation_id] = future
        try:
            await self.send_message(InvocationMessage(target, list(args), invocation_id, headers=headers))
            completion = await asyncio.wait_for(future, timeout or self.timeout)
        finally:
            self._pending.pop(invocation_id, None)
        if completion.error is not None:
            raise HubInvocationError(completion.error)
        return completion.result

    async def send(self, target: str, *args: Any) -> None:
        """Call a method without waiting: the server answers nothing, errors included."""
        await self.send_message(InvocationMessage(target, list(args)))

    async def stream(
        self, target: str, *args: Any, timeout: float | None = None, headers: dict[str, str] | None = None
    ) -> AsyncIterator[Any]:
        """The items of a streaming method; ``HubInvocationError`` if it ends with an error."""
        invocation_id = str(next(self._ids))
        stream = self._streams[invocation_id] = _Stream()
        await self.send_message(StreamInvocationMessage(invocation_id, target, list(args), headers=headers))
        try:
            while True:
                message = await asyncio.wait_for(stream.queue.get(), timeout or self.timeout)
                if isinstance(message, CompletionMessage):
                    if message.error is not None:
                        raise HubInvocationError(message.error)
                    return
                yield message.item
        finally:
            self._streams.pop(invocation_id, None)

    def on(self, target: str, handler: Callable[..., Any]) -> None:
        """Answer server calls to ``target`` (matched ignoring case), for client results too."""
        self.handlers[target.lower()] = handler

    async def receive(self, target: str | None = None, timeout: float | None = None) -> InvocationMessage:
        """The next server-to-client call (to ``target`` if given; others are dropped)."""
        while True:
            message = await asyncio.wait_for(self.messages.get(), timeout or self.timeout)
            if target is None or message.target.lower() == target.lower():
                return message

    async def wait_closed(self, timeout: float | None = None) -> CloseMessage | None:
        await asyncio.wait_for(self.closed.wait(), timeout or self.timeout)
        return self.close_message

    # --- reading ------------------------------------------------------------------

    async def _receive_bytes(self, timeout: float) -> bytes:
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.closed.set()
            raise ConnectionError(f"the server closed the WebSocket ({output.get('code')})")
        return output.get("bytes") or output.get("text", "").encode()

    async def _read(self) -> None:
        try:
            while True:
                for message in self.protocol.parse(self._buffer, None):
                    await self._route(message)
                self._buffer += await self._receive_bytes(3600)
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the connection closed"))

    async def _route(self, message: HubMessage) -> None:
        if isinstance(message, CompletionMessage):
            future = self._pending.get(message.invocation_id)
            if future is not None and not future.done():
                future.set_result(message)
            elif (stream := self._streams.get(message.invocation_id)) is not None:
                stream.queue.put_nowait(message)
        elif isinstance(message, StreamItemMessage):
            stream = self._streams.get(message.invocation_id)
            if stream is not None:
                stream.queue.put_nowait(message)
        elif isinstance(message, InvocationMessage):
            await self._call_handler(message)
        elif isinstance(message, CloseMessage):
            self.close_message = message
        elif isinstance(message, PingMessage):
            pass

    async def _call_handler(self, message: InvocationMessage) -> None:
        handler = self.handlers.get(message.target.lower())
        if handler is None:
            self.messages.put_nowait(message)
            if message.invocation_id is not None:
                await self.send_message(
                    CompletionMessage.with_error(message.invocation_id, "Client didn't provide a result.")
                )
            return
        try:
            result = handler(*message.arguments)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            if message.invocation_id is not None:
                await self.send_message(CompletionMessage.with_error(message.invocation_id, f"Error: {exc}"))
            return
        if message.invocation_id is not None:
            await self.send_message(CompletionMessage.with_result(message.invocation_id, result))


def _with_user(application: Any, user: Any) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await application({**scope, "user": user}, receive, send)

    return app
