"""The load generator's clients: each speaks one server's real wire protocol and checks replies.

A client owns one WebSocket and a reader task. ``invoke(method, payload)`` sends one
request and returns the server's answer; broadcast deliveries go to ``on_message``
with the time the frame arrived. Nothing is trusted: a reply to an unknown id, a
record that does not parse, or a Close counts in ``problems`` and fails the run.

Dialects:

* ``signalr`` -- SignalR JSON (``\\x1e``-terminated) or MessagePack (VarInt length
  prefixed) after the handshake, connecting without negotiate (``skipNegotiation``).
* ``socketio`` -- Engine.IO v4 / Socket.IO v5 over WebSocket: ``40`` connect, events
  ``42``, acknowledgements ``43``, answering the server's ``2`` pings with ``3``.
* ``channels`` -- plain JSON text frames, the hand-written consumer's format.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import msgpack

from .wsclient import WebSocket

RS = "\x1e"
OnMessage = Callable[[Any, float], None]


class ServerError(Exception):
    """The server answered an invocation with an error."""


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
    """The MessagePack records of one frame; a truncated record raises ``ValueError``."""
    records, pos, size = [], 0, len(data)
    while pos < size:
        length = shift = 0
        while True:
            if pos >= size:
                raise ValueError("truncated length prefix")
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if pos + length > size:
            raise ValueError("truncated record")
        records.append(data[pos : pos + length])
        pos += length
    return records


class BenchClient:
    """One connection; subclasses know the wire format."""

    dialect = ""

    def __init__(self, url: str, protocol: str = "json", on_message: OnMessage | None = None) -> None:
        self.url = url
        self.protocol = protocol
        self.on_message = on_message
        self.ws: WebSocket | None = None
        self.pending: dict[Any, asyncio.Future[Any]] = {}
        self.problems: list[str] = []
        self.closing = False
        self._next_id = 0

    # --- life -----------------------------------------------------------------------

    async def connect(self, timeout: float = 30.0) -> None:
        self.ws = await WebSocket.connect(self.url, timeout)
        await asyncio.wait_for(self._handshake(), timeout)
        # From now on frames are handled as they arrive, in ``data_received``.
        self.ws.on_frame = self._on_frame
        for frame in self.ws.take_pending():
            self._on_frame(frame)
        self.ws.lost.add_done_callback(self._lost)

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self.closing = True
        if self.ws is not None:
            self.ws.abort()

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            self.handle(frame, time.perf_counter())
        except Exception as exc:
            self.problem(f"bad frame: {exc!r}")

    def _lost(self, lost: asyncio.Future[Exception | None]) -> None:
        if not self.closing:
            self.problem(f"connection lost: {lost.result()!r}")
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection closed with the invocation pending"))
        self.pending.clear()

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)

    # --- requests -------------------------------------------------------------------

    async def invoke(self, method: str, payload: Any) -> Any:
        assert self.ws is not None
        self._next_id += 1
        key = self._next_id
        future = asyncio.get_running_loop().create_future()
        self.pending[self.key(key)] = future
        self.ws.send(self.encode(key, method, payload))
        return await future

    def resolve(self, key: Any, result: Any = None, error: str | None = None) -> None:
        future = self.pending.pop(key, None)
        if future is None:
            self.problem(f"reply to unknown id {key!r}")
        elif error is not None:
            future.set_exception(ServerError(error))
        else:
            future.set_result(result)

    def keep_alive(self) -> None:
        """What the protocol wants from an idle client now and then (nothing by default)."""

    # --- per dialect ----------------------------------------------------------------

    def key(self, n: int) -> Any:
        return n

    async def _handshake(self) -> None:
        raise NotImplementedError

    def encode(self, n: int, method: str, payload: Any) -> str | bytes:
        raise NotImplementedError

    def handle(self, frame: str | bytes, now: float) -> None:
        raise NotImplementedError


class SignalRClient(BenchClient):
    dialect = "signalr"

    def key(self, n: int) -> Any:
        return str(n)

    async def _handshake(self) -> None:
        assert self.ws is not None
        self.ws.send(json.dumps({"protocol": self.protocol, "version": 1}) + RS)
        frame = await self.ws.recv()
        data = frame.encode() if isinstance(frame, str) else frame
        head, sep, rest = data.partition(b"\x1e")
        if not sep:
            raise ConnectionError(f"no handshake response: {data[:100]!r}")
        answer = json.loads(head)
        if answer.get("error"):
            raise ConnectionError(f"handshake refused: {answer['error']}")
        if rest:
            self.handle(rest, time.perf_counter())

    def encode(self, n: int, method: str, payload: Any) -> str | bytes:
        if self.protocol == "json":
            message = {"type": 1, "invocationId": str(n), "target": method, "arguments": [payload]}
            return json.dumps(message, separators=(",", ":")) + RS
        body = msgpack.packb([1, {}, str(n), method, [payload], []])
        return varint(len(body)) + body

    def keep_alive(self) -> None:
        if self.ws is not None and not self.ws.closed:
            if self.protocol == "json":
                self.ws.send('{"type":6}' + RS)
            else:
                body = msgpack.packb([6])
                self.ws.send(varint(len(body)) + body)

    def handle(self, frame: str | bytes, now: float) -> None:
        if self.protocol == "json":
            text = frame if isinstance(frame, str) else frame.decode()
            records = text.split(RS)
            if records[-1]:
                self.problem("JSON frame does not end with a record separator")
            for record in records[:-1]:
                self.handle_json(json.loads(record), now)
        else:
            data = frame if isinstance(frame, bytes) else frame.encode()
            for record in split_binary(data):
                self.handle_msgpack(msgpack.unpackb(record), now)

    def handle_json(self, message: dict[str, Any], now: float) -> None:
        kind = message.get("type")
        if kind == 3:
            self.resolve(message.get("invocationId"), message.get("result"), message.get("error"))
        elif kind == 1:
            if message.get("target") != "message" or len(message.get("arguments", ())) != 1:
                self.problem(f"unexpected invocation {message.get('target')!r}")
            elif self.on_message is not None:
                self.on_message(message["arguments"][0], now)
        elif kind == 7:
            self.problem(f"server closed the connection: {message.get('error')!r}")
        elif kind != 6:
            self.problem(f"unexpected message type {kind!r}")

    def handle_msgpack(self, message: list[Any], now: float) -> None:
        kind = message[0]
        if kind == 3:
            result_kind = message[3]
            if result_kind == 1:
                self.resolve(message[2], error=message[4])
            else:
                self.resolve(message[2], message[4] if result_kind == 3 else None)
        elif kind == 1:
            if message[3] != "message" or len(message[4]) != 1:
                self.problem(f"unexpected invocation {message[3]!r}")
            elif self.on_message is not None:
                self.on_message(message[4][0], now)
        elif kind == 7:
            self.problem(f"server closed the connection: {message[1]!r}")
        elif kind != 6:
            self.problem(f"unexpected message type {kind!r}")


class SocketIOClient(BenchClient):
    dialect = "socketio"

    async def _handshake(self) -> None:
        assert self.ws is not None
        opened = await self.ws.recv()
        if not isinstance(opened, str) or not opened.startswith("0"):
            raise ConnectionError(f"no Engine.IO open packet: {opened!r:.100}")
        self.ws.send("40")
        while True:
            frame = await self.ws.recv()
            if frame == "2":
                self.ws.send("3")
                continue
            if isinstance(frame, str) and frame.startswith("40"):
                return
            raise ConnectionError(f"Socket.IO connect refused: {frame!r:.100}")

    def encode(self, n: int, method: str, payload: Any) -> str | bytes:
        return f"42{n}" + json.dumps([method, payload], separators=(",", ":"))

    def handle(self, frame: str | bytes, now: float) -> None:
        if not isinstance(frame, str):
            self.problem("binary Engine.IO frame")
            return
        if frame.startswith("43"):
            start = frame.index("[")
            values = json.loads(frame[start:])
            self.resolve(int(frame[2:start]), values[0] if values else None)
        elif frame.startswith("42"):
            event = json.loads(frame[frame.index("[") :])
            if event[0] != "message" or len(event) != 2:
                self.problem(f"unexpected event {event[0]!r}")
            elif self.on_message is not None:
                self.on_message(event[1], now)
        elif frame == "2":
            assert self.ws is not None
            self.ws.send("3")
        else:
            self.problem(f"unexpected packet {frame[:20]!r}")


class ChannelsClient(BenchClient):
    dialect = "channels"

    async def _handshake(self) -> None:
        """The consumer accepts the upgrade and has joined its group: nothing more to say."""

    def encode(self, n: int, method: str, payload: Any) -> str | bytes:
        return json.dumps({"op": method, "id": n, "payload": payload}, separators=(",", ":"))

    def handle(self, frame: str | bytes, now: float) -> None:
        message = json.loads(frame)
        if "id" in message:
            self.resolve(message["id"], message.get("result"))
        elif message.get("event") == "message":
            if self.on_message is not None:
                self.on_message(message["payload"], now)
        else:
            self.problem(f"unexpected message {str(message)[:60]!r}")


DIALECTS: dict[str, type[BenchClient]] = {
    "signalr": SignalRClient,
    "socketio": SocketIOClient,
    "channels": ChannelsClient,
}
