"""A lean WebSocket client for the load generator: websockets' sans-I/O protocol on a bare
``asyncio.Protocol``.

The generator must cost much less than the servers it drives. websockets' asyncio client
spends a task, a queue and several futures on every frame; here a frame goes from
``data_received`` straight to the caller's handler, and a send is one ``transport.write``.
The protocol work (handshake, masking, framing, close) is still the websockets library's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

Frame = str | bytes


class WebSocket(asyncio.Protocol):
    """One client connection. Frames go to ``on_frame`` once set, else wait for ``recv()``."""

    def __init__(self, url: str) -> None:
        self.uri = parse_uri(url)
        self.protocol = ClientProtocol(self.uri, max_size=None)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[Exception | None] = loop.create_future()
        self.on_frame: Callable[[Frame], None] | None = None
        self._frames: deque[Frame] = deque()
        self._waiter: asyncio.Future[None] | None = None

    # --- life -----------------------------------------------------------------------

    @classmethod
    async def connect(cls, url: str, timeout: float) -> WebSocket:
        socket = cls(url)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.create_connection(lambda: socket, socket.uri.host, socket.uri.port), timeout)
        await asyncio.wait_for(socket.opened, timeout)
        return socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        request = self.protocol.connect()
        request.headers.pop("User-Agent", None)
        self.protocol.send_request(request)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the opening handshake"))
        if not self.lost.done():
            self.lost.set_result(exc)
        self._wake()

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Response):
                if protocol.handshake_exc is not None:
                    if not self.opened.done():
                        self.opened.set_exception(protocol.handshake_exc)
                elif not self.opened.done():
                    self.opened.set_result(None)
                continue
            opcode = event.opcode
            if opcode is Opcode.TEXT:
                frame: Frame = event.data.decode()
            elif opcode is Opcode.BINARY:
                frame = bytes(event.data)
            else:
                continue  # pings are answered and closes echoed by the protocol itself
            if self.on_frame is not None:
                self.on_frame(frame)
            else:
                self._frames.append(frame)
                self._wake()
        self._flush()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
        if self.protocol.close_expected():
            transport.close()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- use ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.lost.done()

    async def recv(self) -> Frame:
        """The next frame that no ``on_frame`` handler took (the opening exchanges)."""
        while not self._frames:
            if self.lost.done():
                raise ConnectionError("connection closed")
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._frames.popleft()

    def take_pending(self) -> list[Frame]:
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def send(self, data: Frame) -> None:
        if self.lost.done():
            raise ConnectionError("connection closed")
        if isinstance(data, str):
            self.protocol.send_text(data.encode())
        else:
            self.protocol.send_binary(data)
        self._flush()

    async def close(self, timeout: float = 2.0) -> None:
        if self.transport is None or self.lost.done():
            return
        self.protocol.send_close(1000)
        self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), timeout)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
