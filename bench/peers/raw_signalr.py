"""The practical ceiling: SignalR JSON and MessagePack spoken straight on the ``websockets``
library, with nothing but the bench hub's two methods.

No negotiate, keep-alive, timeouts, authorization, argument checks or error texts: only
what the load generator needs, so the gap to it is the price of a real hub server.
Broadcasts are encoded once per protocol.

Two ways to host it (``--api``):

* ``sansio`` -- websockets' sans-I/O ``ServerProtocol`` on a bare ``asyncio.Protocol``
  (what uvicorn's ``websockets-sansio`` does, minus ASGI): the ceiling.
* ``asyncio`` -- websockets' own asyncio server (``serve``), as one would write it by hand.

Both run on uvloop when it is installed, as uvicorn does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import msgpack

RS = "\x1e"
HANDSHAKE_OK = b"{}\x1e"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def split_binary(data: bytes) -> list[bytes]:
    records, pos = [], 0
    while pos < len(data):
        length = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        records.append(data[pos : pos + length])
        pos += length
    return records


class Peer:
    """One connection as the hub sees it: a protocol and a way to send one frame."""

    binary = False

    def send_frame(self, data: bytes) -> None:
        raise NotImplementedError


class Hub:
    """The bench hub's logic and the group every connection joins; codecs included."""

    def __init__(self) -> None:
        self.members: set[Peer] = set()

    def handshake(self, peer: Peer, data: bytes) -> None:
        request = json.loads(data.split(b"\x1e", 1)[0])
        peer.binary = request.get("protocol") == "messagepack"
        peer.send_frame(HANDSHAKE_OK)
        self.members.add(peer)

    def leave(self, peer: Peer) -> None:
        self.members.discard(peer)

    def receive(self, peer: Peer, data: bytes) -> None:
        if peer.binary:
            for record in split_binary(data):
                message = msgpack.unpackb(record)
                if message[0] == 1:
                    result, void = self.call(message[3], message[4])
                    if message[2] is not None:
                        body = msgpack.packb([3, {}, message[2], 2] if void else [3, {}, message[2], 3, result])
                        peer.send_frame(varint(len(body)) + body)
        else:
            for record in data.decode().split(RS)[:-1]:
                message = json.loads(record)
                if message.get("type") == 1:
                    result, void = self.call(message["target"], message["arguments"])
                    invocation_id = message.get("invocationId")
                    if invocation_id is not None:
                        reply = {"type": 3, "invocationId": invocation_id}
                        if not void:
                            reply["result"] = result
                        peer.send_frame((json.dumps(reply) + RS).encode())

    def call(self, target: str, args: list[Any]) -> tuple[Any, bool]:
        """A hub method's result and whether it is void."""
        name = target.lower()
        if name == "echo":
            return args[0], False
        if name == "broadcast":
            self.broadcast("message", args)
            return None, True
        raise ValueError(target)

    def broadcast(self, target: str, args: list[Any]) -> None:
        encoded: dict[bool, bytes] = {}
        for peer in list(self.members):
            data = encoded.get(peer.binary)
            if data is None:
                if peer.binary:
                    body = msgpack.packb([1, {}, None, target, args])
                    data = encoded[True] = varint(len(body)) + body
                else:
                    text = json.dumps({"type": 1, "target": target, "arguments": args}) + RS
                    data = encoded[False] = text.encode()
            peer.send_frame(data)


HUB = Hub()


# --- sans-I/O on asyncio.Protocol ----------------------------------------------------------


class SansIOPeer(asyncio.Protocol, Peer):
    def __init__(self) -> None:
        from websockets.server import ServerProtocol

        self.ws = ServerProtocol(max_size=None)
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.shaken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        HUB.leave(self)

    def flush(self) -> None:
        assert self.transport is not None
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()
        if self.ws.close_expected():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Opcode
        from websockets.http11 import Request

        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self.ws.send_response(self.ws.accept(event))
                self.open = True
            elif event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY:
                if self.shaken:
                    HUB.receive(self, event.data)
                else:
                    self.shaken = True
                    HUB.handshake(self, event.data)
            elif event.opcode is Opcode.CLOSE:
                HUB.leave(self)
        self.flush()

    def send_frame(self, data: bytes) -> None:
        if self.binary and self.shaken and data is not HANDSHAKE_OK:
            self.ws.send_binary(data)
        else:
            self.ws.send_text(data)
        self.flush()


async def serve_sansio(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SansIOPeer, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


# --- websockets' asyncio server -------------------------------------------------------------


class AsyncioPeer(Peer):
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def send_frame(self, data: bytes) -> None:
        # ``broadcast`` writes without waiting: the same as the sans-I/O path, one frame each.
        from websockets.asyncio.server import broadcast

        broadcast([self.ws], data if self.binary and data is not HANDSHAKE_OK else data.decode())


async def serve_asyncio(host: str, port: int) -> None:
    from websockets.asyncio.server import serve

    async def handle(ws: Any) -> None:
        peer = AsyncioPeer(ws)
        first = await ws.recv(decode=False)
        HUB.handshake(peer, first)
        try:
            async for frame in ws:
                HUB.receive(peer, frame if isinstance(frame, bytes) else frame.encode())
        finally:
            HUB.leave(peer)

    async with serve(handle, host, port, compression=None, max_size=None, ping_interval=None, backlog=4096) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", choices=["sansio", "asyncio"], default="sansio")
    options = parser.parse_args()
    coroutine = (serve_sansio if options.api == "sansio" else serve_asyncio)(options.host, options.port)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


if __name__ == "__main__":
    main()
