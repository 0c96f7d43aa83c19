"""Raw and hostile clients for the live hardening tests: real sockets, no official client.

* :class:`Socket` is a lean WebSocket client (websockets' sans-I/O protocol on a bare
  ``asyncio.Protocol``), cheap enough to hold a thousand in one process, able to send
  any frame (text frames with invalid UTF-8 too) and to stop reading on demand.
* :class:`HubSocket` speaks just enough SignalR on it to count what it receives: the
  records are split and decoded here, independently of the server's own codecs.
* :func:`http` is a one-request HTTP/1.1 client for negotiate, SSE and long-poll POSTs.
* :func:`hostile_records` lists the frames the live fuzzer sends: each a named case,
  generated from a seed so that a failure can be replayed.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

RS = b"\x1e"


def handshake(protocol: str) -> bytes:
    return json.dumps({"protocol": protocol, "version": 1}).encode() + RS


# --- WebSockets -----------------------------------------------------------------------


class Socket(asyncio.Protocol):
    """One WebSocket; frames go to ``on_frame`` once set, else wait for ``recv()``."""

    def __init__(self, url: str) -> None:
        self.uri = parse_uri(url)
        self.protocol = ClientProtocol(self.uri, max_size=None)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[Exception | None] = loop.create_future()
        self.on_frame: Callable[[bytes, bool], None] | None = None
        #: The close code the server sent, once it closed the WebSocket.
        self.close_code: int | None = None
        self._frames: deque[tuple[bytes, bool]] = deque()
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    async def connect(cls, url: str, timeout: float = 10.0, rcvbuf: int | None = None) -> Socket:
        """Open the WebSocket; ``rcvbuf`` shrinks the kernel's receive buffer (a stuck reader)."""
        ws = cls(url)
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (ws.uri.host, ws.uri.port)), timeout)
            await asyncio.wait_for(loop.create_connection(lambda: ws, sock=sock), timeout)
            await asyncio.wait_for(ws.opened, timeout)
        except BaseException:
            sock.close()
            raise
        return ws

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        request = self.protocol.connect()
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
            if event.opcode is Opcode.CLOSE:
                self.close_code = protocol.close_rcvd.code if protocol.close_rcvd else 1005
                continue
            if event.opcode not in (Opcode.TEXT, Opcode.BINARY):
                continue  # pings are answered by the protocol itself
            frame = (bytes(event.data), event.opcode is Opcode.BINARY)
            if self.on_frame is not None:
                self.on_frame(*frame)
            else:
                self._frames.append(frame)
                self._wake()
        self._flush()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
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

    @property
    def closed(self) -> bool:
        return self.lost.done()

    async def recv(self, timeout: float = 10.0) -> tuple[bytes, bool]:
        """The next ``(data, binary)`` frame; ``ConnectionError`` once the socket is gone."""
        async with asyncio.timeout(timeout):
            while not self._frames:
                if self.lost.done():
                    raise ConnectionError(f"connection closed ({self.close_code})")
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
        return self._frames.popleft()

    def send(self, data: bytes, binary: bool = False) -> None:
        """One frame; a text frame's bytes are sent as given, valid UTF-8 or not."""
        if self.lost.done():
            raise ConnectionError("connection closed")
        if binary:
            self.protocol.send_binary(data)
        else:
            self.protocol.send_text(data)
        self._flush()

    def send_fragments(self, pieces: list[bytes], binary: bool = False) -> None:
        """One message split into continuation frames."""
        first = True
        for index, piece in enumerate(pieces):
            fin = index == len(pieces) - 1
            if first:
                opcode = Opcode.BINARY if binary else Opcode.TEXT
                first = False
            else:
                opcode = Opcode.CONT
            self.protocol.send_frame(Frame(opcode, piece, fin=fin))
        self._flush()

    def stop_reading(self) -> None:
        """Read nothing more: the kernel buffers fill, then the server's writes stall."""
        if self.transport is not None:
            self.transport.pause_reading()

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


# --- SignalR on a raw socket ------------------------------------------------------------


def read_varint(data: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """A MessagePack record's length prefix: ``(length, bytes used)``, ``None`` if incomplete."""
    value = shift = 0
    for used in range(1, 6):
        if offset + used > len(data):
            return None
        byte = data[offset + used - 1]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, used
        shift += 7
    raise ValueError("length prefix longer than 5 bytes")


def write_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class Records:
    """Splits one connection's bytes into hub messages, as dicts (JSON) or lists (MessagePack)."""

    def __init__(self, protocol: str, handshaken: bool = False) -> None:
        self.binary = protocol == "messagepack"
        self.buffer = bytearray()
        #: Whether the handshake answer was read (``feed`` takes it off first).
        self.handshaken = handshaken

    def feed(self, data: bytes) -> list[Any]:
        self.buffer += data
        if not self.handshaken:
            end = self.buffer.find(RS)
            if end < 0:
                return []
            answer = json.loads(bytes(self.buffer[:end]))
            if answer != {}:
                raise ConnectionError(f"handshake refused: {answer}")
            del self.buffer[: end + 1]
            self.handshaken = True
        out: list[Any] = []
        buffer = self.buffer
        if not self.binary:
            *records, rest = bytes(buffer).split(RS)
            out = [json.loads(r) for r in records]
            self.buffer = bytearray(rest)
            return out
        offset = 0
        while offset < len(buffer):
            prefix = read_varint(buffer, offset)
            if prefix is None or offset + prefix[1] + prefix[0] > len(buffer):
                break
            length, used = prefix
            start = offset + used
            out.append(msgpack.unpackb(bytes(buffer[start : start + length]), raw=False, strict_map_key=False))
            offset = start + length
        del buffer[:offset]
        return out


def message_type(message: Any) -> int:
    return message["type"] if isinstance(message, dict) else message[0]


def encode(protocol: str, message: dict[str, Any]) -> bytes:
    """A client message from its JSON form; MessagePack gets the array layout of the spec."""
    if protocol == "json":
        return json.dumps(message, separators=(",", ":")).encode() + RS
    kind = message["type"]
    if kind == 1:
        fields = [1, {}, message.get("invocationId"), message["target"], message.get("arguments", [])]
        if message.get("streamIds"):
            fields.append(message["streamIds"])
    elif kind == 6:
        fields = [6]
    elif kind == 7:
        fields = [7, message.get("error"), False]
    else:
        raise ValueError(kind)
    body = msgpack.packb(fields)
    return write_varint(len(body)) + body


class HubSocket:
    """A SignalR connection on a :class:`Socket` (skipNegotiation), counting what arrives."""

    def __init__(self, ws: Socket, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.records = Records(protocol, handshaken=True)
        #: ``(target, arguments)`` of each server-to-client invocation, in arrival order.
        self.invocations: list[tuple[str, list[Any]]] = []
        self.closes: list[Any] = []
        self.completions: list[Any] = []
        self.other = 0

    @classmethod
    async def connect(cls, url: str, protocol: str = "json", timeout: float = 10.0, **kwargs: Any) -> HubSocket:
        ws = await Socket.connect(url, timeout, **kwargs)
        hub = cls(ws, protocol)
        ws.send(handshake(protocol))
        data, _ = await ws.recv(timeout)
        end = data.find(RS)
        if end < 0 or json.loads(data[:end]) != {}:
            raise ConnectionError(f"handshake refused: {data!r}")
        hub.on(data[end + 1 :])
        ws.on_frame = lambda frame, binary: hub.on(frame)
        for frame, _ in list(ws._frames):
            hub.on(frame)
        ws._frames.clear()
        return hub

    def on(self, data: bytes) -> None:
        if not data:
            return
        for message in self.records.feed(data):
            kind = message_type(message)
            if kind == 1:
                if isinstance(message, dict):
                    self.invocations.append((message["target"], message["arguments"]))
                else:
                    self.invocations.append((message[3], message[4]))
            elif kind == 3:
                self.completions.append(message)
            elif kind == 7:
                self.closes.append(message)
            else:
                self.other += 1

    def received(self, target: str) -> list[list[Any]]:
        """The arguments of every call to ``target``, in arrival order."""
        return [arguments for name, arguments in self.invocations if name == target]

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(encode(self.protocol, message), binary=self.protocol == "messagepack")

    def invoke(self, target: str, *arguments: Any, invocation_id: str | None = None) -> None:
        message: dict[str, Any] = {"type": 1, "target": target, "arguments": list(arguments)}
        if invocation_id is not None:
            message["invocationId"] = invocation_id
        self.send(message)

    async def completion(self, timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            while not self.completions:
                if self.ws.closed:
                    raise ConnectionError("closed before the completion")
                await asyncio.sleep(0.01)
        return self.completions.pop(0)


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def http(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 10.0
) -> HttpResponse:
    """One HTTP/1.1 request on its own connection (``Connection: close``)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            raw = await reader.read(-1)
        finally:
            writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    parsed = {k.lower(): v for k, v in parsed.items()}
    if parsed.get("transfer-encoding") == "chunked":
        rest = dechunk(rest)
    return HttpResponse(int(status_line.split()[1]), parsed, rest)


def dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def negotiate(port: int, hub: str) -> dict[str, Any]:
    response = await http(port, "POST", f"/{hub}/negotiate?negotiateVersion=1")
    assert response.status == 200, response
    return json.loads(response.body)


# --- hostile frames -----------------------------------------------------------------------

#: Methods of the test hub a fuzz case may call: quick, bounded, and side-effect free.
TARGETS = ("echo", "Echo", "add", "nothing", "fail", "refuse", "upload_sum", "get_connection_id", "nope", "")
#: The one answer a probe expects: ``echo("probe")``.
PROBE_RESULT = "probe"
#: The only error text a Close may carry with detailed errors off.
CLOSE_ERROR = "Connection closed with an error."
MAX_MESSAGE_SIZE = 32 * 1024


@dataclass
class Case:
    """Frames for one victim connection: ``(data, binary)``; ``binary=False`` is a text frame."""

    name: str
    frames: list[tuple[bytes, bool]]
    #: What must follow, for the named cases: ``"close"`` (a Close with the error text),
    #: ``"silent"`` (no answer; the connection keeps working), or an exact Completion error.
    expect: str | None = None


def _text(rng: random.Random, size: int = 8) -> str:
    alphabet = 'abcXYZ019 _-é€😀\x00\x1f"\\/'
    if rng.random() < 0.1:
        return "".join(chr(rng.choice((0xD800, 0xDFFF, 0xFFFF, 0x1E, 0x7F))) for _ in range(rng.randint(1, 3)))
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, size)))


def value(rng: random.Random, depth: int = 0) -> Any:
    """A random payload value: what JSON holds, and more (huge ints, NaN, bytes, lone surrogates)."""
    kind = rng.randrange(11 if depth < 3 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**31), 2**31)
    if kind == 3:
        return rng.choice((2**63 - 1, -(2**63), 2**64, 2**70, -(2**64), 10**30))
    if kind == 4:
        return rng.choice((0.5, -0.0, 1e308, float("nan"), float("inf"), -float("inf"), 5e-324))
    if kind in (5, 6):
        return _text(rng)
    if kind == 7:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == 8:
        return {_text(rng, 4): value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if kind == 9:
        return rng.randbytes(rng.randint(0, 6))
    return Deep(rng.choice((10, 200, 1000, 3000, 10000)))


@dataclass
class Deep:
    """Nesting ``depth`` levels deep, written as raw text or bytes (no encoder recurses that far)."""

    depth: int


def skeleton(rng: random.Random) -> dict[str, Any]:
    """A hub message in its JSON form, well formed or nearly so."""
    kind = rng.choice((1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, rng.randint(-5, 300)))
    target = rng.choice(TARGETS) if rng.random() < 0.8 else "zz" + _text(rng)
    ident = rng.choice((None, "1", "s1", "never", _text(rng, 4)))
    message: dict[str, Any] = {"type": kind}
    if kind in (1, 4):
        message["target"] = target
        message["arguments"] = [value(rng) for _ in range(rng.randint(0, 3))]
        if kind == 4 or ident is not None:
            message["invocationId"] = ident or "1"
        if rng.random() < 0.3:
            message["streamIds"] = [rng.choice(("a", "b", "0", _text(rng, 3))) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.2:
            message["headers"] = {_text(rng, 3): _text(rng, 3)}
    elif kind in (2, 3, 5):
        message["invocationId"] = ident or "a"
        if kind == 2:
            message["item"] = value(rng)
        elif kind == 3:
            choice = rng.randrange(3)
            if choice == 0:
                message["result"] = value(rng)
            elif choice == 1:
                message["error"] = _text(rng)
    elif kind == 7:
        if rng.random() < 0.5:
            message["error"] = _text(rng)
    elif kind in (8, 9):
        message["sequenceId"] = rng.choice((0, 1, -1, 2**63, 2**64, 1.5, "1"))
    return message


FIELDS = ("type", "target", "arguments", "invocationId", "streamIds", "item", "result", "error", "headers")


def mutate(rng: random.Random, message: dict[str, Any]) -> dict[str, Any]:
    """One field set to a value of a random type, or removed, or one unknown field added."""
    field = rng.choice(FIELDS)
    roll = rng.random()
    if roll < 0.2:
        message.pop(field, None)
    elif roll < 0.3:
        message["zz" + _text(rng, 3)] = value(rng)
    else:
        message[field] = value(rng)
    return message


def _json(obj: Any) -> str:
    if isinstance(obj, Deep):
        return "[" * obj.depth + "]" * obj.depth
    if isinstance(obj, bytes):
        return json.dumps(obj.decode("latin-1"))
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_json(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(_json(v) for v in obj) + "]"
    return json.dumps(obj)  # NaN and Infinity come out as the non-JSON tokens, on purpose


def json_record(message: dict[str, Any]) -> bytes:
    return _json(message).encode("utf-8", "surrogatepass") + RS


def _packable(obj: Any) -> Any:
    if isinstance(obj, Deep):
        return msgpack.ExtType(99, b"")  # replaced by raw bytes below
    if isinstance(obj, int) and not isinstance(obj, bool) and not -(2**63) <= obj < 2**64:
        return float(obj)
    if isinstance(obj, list):
        return [_packable(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _packable(v) for k, v in obj.items()}
    return obj


def _pack(obj: Any) -> bytes:
    body = msgpack.packb(_packable(obj), use_bin_type=True, unicode_errors="surrogatepass")
    deep = _find_deep(obj)
    if deep is not None:  # the placeholder ExtType becomes the deep nesting itself
        body = body.replace(b"\xd4\x63\x00", b"\x91" * deep.depth + b"\xc0", 1)
    return body


def _find_deep(obj: Any) -> Deep | None:
    if isinstance(obj, Deep):
        return obj
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()
    for item in items:
        if (found := _find_deep(item)) is not None:
            return found
    return None


def as_array(message: dict[str, Any]) -> list[Any]:
    """The MessagePack layout of a JSON-form message (spec 5.4), missing fields as nil."""
    kind = message.get("type")
    headers = message.get("headers", {})
    ident = message.get("invocationId")
    if kind in (1, 4):
        fields = [kind, headers, ident, message.get("target"), message.get("arguments", [])]
        if "streamIds" in message:
            fields.append(message["streamIds"])
        return fields
    if kind == 2:
        return [2, headers, ident, message.get("item")]
    if kind == 3:
        if "error" in message:
            return [3, headers, ident, 1, message["error"]]
        if "result" in message:
            return [3, headers, ident, 3, message["result"]]
        return [3, headers, ident, 2]
    if kind == 5:
        return [5, headers, ident]
    if kind == 7:
        return [7, message.get("error"), False]
    if kind in (8, 9):
        return [kind, message.get("sequenceId")]
    return [kind]


def msgpack_record(rng: random.Random, message: dict[str, Any]) -> bytes:
    fields = as_array(message)
    roll = rng.random()
    if roll < 0.15 and fields:
        fields[rng.randrange(len(fields))] = value(rng)
    elif roll < 0.2:
        fields.append(value(rng))
    elif roll < 0.25 and len(fields) > 1:
        fields.pop()
    body = _pack(fields)
    roll = rng.random()
    if roll < 0.05:
        return write_varint(len(body) + rng.randint(1, 40)) + body  # declares more than it holds
    if roll < 0.1:
        return write_varint(max(0, len(body) - rng.randint(1, 5))) + body  # declares less
    return write_varint(len(body)) + body


def framing_garbage(rng: random.Random, protocol: str) -> bytes:
    """Length prefixes and separators gone wrong, and plain noise."""
    if protocol == "messagepack":
        return rng.choice(
            (
                b"\x80",
                b"\x80\x80\x80",  # a varint that never ends
                b"\xff\xff\xff\xff\x0f",  # 4 GiB declared
                b"\xff\xff\xff\xff\xff\x01",  # six varint bytes
                write_varint(MAX_MESSAGE_SIZE + 1),
                b"\x00",  # an empty record
                rng.randbytes(rng.randint(1, 40)),
            )
        )
    return rng.choice((RS, RS * 3, b"{" + RS, b"\xff\xfe" + RS, b"[]" + RS, b"null" + RS, rng.randbytes(20) + RS))


def hostile_case(rng: random.Random, protocol: str) -> Case:
    """One random case: 1 to 4 frames of 1 to 3 records, each valid, mutated or garbage."""
    frames = []
    for _ in range(rng.randint(1, 4)):
        records = []
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.15:
                records.append(framing_garbage(rng, protocol))
                continue
            message = skeleton(rng)
            if roll < 0.7:
                message = mutate(rng, message)
            records.append(json_record(message) if protocol == "json" else msgpack_record(rng, message))
        data = b"".join(records)
        if rng.random() < 0.1:
            data = data[: rng.randint(0, len(data))]  # cut anywhere
        binary = (protocol == "messagepack") != (rng.random() < 0.15)  # mostly the protocol's own frame type
        frames.append((data, binary))
    return Case(f"random-{protocol}", frames)


def _invoke_json(**fields: Any) -> bytes:
    return json.dumps({"type": 1, **fields}).encode() + RS


def _mp(fields: list[Any]) -> bytes:
    body = msgpack.packb(fields, use_bin_type=True)
    return write_varint(len(body)) + body


def named_cases(protocol: str) -> list[Case]:
    """The hostile inputs the hardening issue names, each with the official server's answer."""
    if protocol == "json":
        deep = b'{"type":1,"target":"echo","arguments":[' + b"[" * 10000 + b"]" * 10000 + b"]}" + RS
        return [
            Case("deeply-nested-json", [(deep, False)], "close"),
            Case(
                "invalid-utf8-in-binary-frame", [(b'{"type":1,"target":"\xff\xfe","arguments":[]}' + RS, True)], "close"
            ),
            Case("method-name-number", [(_invoke_json(target=42, arguments=[]), False)], "close"),
            Case("method-name-null", [(_invoke_json(target=None, arguments=[]), False)], "close"),
            Case("method-name-list", [(_invoke_json(target=["echo"], arguments=[]), False)], "close"),
            Case(
                "invocation-id-number", [(_invoke_json(target="echo", arguments=[1], invocationId=7), False)], "close"
            ),
            Case(
                "invocation-id-object", [(_invoke_json(target="echo", arguments=[1], invocationId={}), False)], "close"
            ),
            Case("stream-id-never-announced", [(b'{"type":2,"invocationId":"never","item":1}' + RS, False)], "silent"),
            Case(
                "completion-for-no-invocation", [(b'{"type":3,"invocationId":"s999","result":1}' + RS, False)], "silent"
            ),
            Case("cancel-for-no-invocation", [(b'{"type":5,"invocationId":"never"}' + RS, False)], "silent"),
            Case("out-of-range-number", [(b'{"type":1,"target":"echo","arguments":[1e400]}' + RS, False)], "close"),
            Case("nan-token", [(b'{"type":1,"target":"echo","arguments":[NaN]}' + RS, False)], "close"),
            Case(
                "5000-digit-integer",
                [(b'{"type":1,"target":"echo","arguments":[' + b"9" * 5000 + b"]}" + RS, False)],
                "close",
            ),
            Case(
                "over-max-message-size",
                [(_invoke_json(target="echo", arguments=["x" * MAX_MESSAGE_SIZE]), False)],
                "close",
            ),
            Case("messagepack-on-json-connection", [(_mp([1, {}, None, "echo", ["x"]]), True)], "close"),
            Case(
                "json-in-binary-frame",
                [(_invoke_json(target="add", arguments=[1, "x"], invocationId="b1"), True)],
                "Failed to invoke 'add' due to an error on the server.",
            ),
            Case(
                "stream-count-mismatch",
                [(_invoke_json(target="upload_sum", arguments=[], invocationId="m1"), False)],
                "An unexpected error occurred invoking 'upload_sum' on the server. "
                "HubException: Client sent 0 stream(s), Hub method expects 1.",
            ),
            Case(
                "streaming-call-of-plain-method",
                [(b'{"type":4,"invocationId":"s","target":"echo","arguments":[1]}' + RS, False)],
                "The client attempted to invoke the non-streaming 'echo' method with a streaming invocation.",
            ),
        ]
    return [
        Case("truncated-varint", [(b"\x80\x80", True)], "close"),
        Case("giant-declared-length", [(b"\xff\xff\xff\xff\x0f" + b"\x00" * 16, True)], "close"),
        Case("six-byte-varint", [(b"\xff\xff\xff\xff\xff\x01", True)], "close"),
        Case("declared-over-max-size", [(write_varint(MAX_MESSAGE_SIZE + 1) + b"\x91", True)], "close"),
        Case(
            "deeply-nested-array",
            [(_mp_raw(b"\x95\x01\x80\xc0\xa4echo\x91" + b"\x91" * 3000 + b"\xc0"), True)],
            "close",
        ),
        Case("invalid-utf8-string", [(_mp_raw(b"\x95\x01\x80\xc0\xa2\xff\xfe\x90"), True)], "close"),
        Case("method-name-number", [(_mp([1, {}, None, 42, []]), True)], "close"),
        Case("method-name-binary", [(_mp([1, {}, None, b"echo", []]), True)], "close"),
        Case("invocation-id-number", [(_mp([1, {}, 7, "echo", [1]]), True)], "close"),
        Case("stream-id-never-announced", [(_mp([2, {}, "never", 1]), True)], "silent"),
        Case("completion-for-no-invocation", [(_mp([3, {}, "s999", 3, 1]), True)], "silent"),
        Case("cancel-for-no-invocation", [(_mp([5, {}, "never"]), True)], "silent"),
        Case(
            "json-text-on-messagepack-connection",
            [(_invoke_json(target="echo", arguments=["x" * 200]), False)],
            "close",
        ),
        Case(
            "bad-arguments",
            [(_mp([1, {}, "t1", "add", [1, "x"]]), True)],
            "Failed to invoke 'add' due to an error on the server.",
        ),
    ]


def _mp_raw(body: bytes) -> bytes:
    return write_varint(len(body)) + body


def probe(protocol: str, ident: str = "probe") -> bytes:
    """``echo("probe")`` with an id: its Completion shows the connection still answers."""
    if protocol == "json":
        return _invoke_json(target="echo", arguments=[PROBE_RESULT], invocationId=ident)
    return _mp([1, {}, ident, "echo", [PROBE_RESULT]])


def completion_of(message: Any) -> tuple[str | None, Any, str | None]:
    """``(invocationId, result, error)`` of a Completion in either form."""
    if isinstance(message, dict):
        return message.get("invocationId"), message.get("result"), message.get("error")
    kind = message[3]
    return message[2], message[4] if kind == 3 else None, message[4] if kind == 1 else None


def close_of(message: Any) -> str | None:
    """A Close message's error text."""
    if isinstance(message, dict):
        return message.get("error")
    return message[1] if len(message) > 1 else None


# --- clients for the live tests ------------------------------------------------------------


def open_stuck_socket(
    url: str, protocol: str = "json", rcvbuf: int = 4096, timeout: float = 10.0
) -> tuple[socket.socket, str]:
    """A plain blocking TCP socket: upgrade, hand-shake, learn its connection id, never read again."""
    uri = parse_uri(url)
    ws = ClientProtocol(uri, max_size=None)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect((uri.host, uri.port))
    ws.send_request(ws.connect())
    sock.sendall(b"".join(ws.data_to_send()))
    records = Records(protocol)
    while True:
        ws.receive_data(sock.recv(65536))
        for event in ws.events_received():
            if isinstance(event, Response):
                assert ws.handshake_exc is None, ws.handshake_exc
                ws.send_text(handshake(protocol))
                ask = encode(
                    protocol, {"type": 1, "target": "get_connection_id", "arguments": [], "invocationId": "id"}
                )
                ws.send_binary(ask) if protocol == "messagepack" else ws.send_text(ask)
                sock.sendall(b"".join(ws.data_to_send()))
            elif isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
                for record in records.feed(bytes(event.data)):
                    if message_type(record) == 3:
                        return sock, completion_of(record)[1]


class SseReader:
    """The body of a Server-Sent Events response, event by event, from a raw HTTP/1.1 stream."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.chunked = False
        self.text = b""

    async def start(self) -> int:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.chunked = any(line.lower() == "transfer-encoding: chunked" for line in lines)
        return int(lines[0].split()[1])

    async def _more(self) -> bool:
        if self.chunked:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                return False
            self.text += (await self.reader.readexactly(size + 2))[:-2]
            return True
        data = await self.reader.read(65536)
        self.text += data
        return bool(data)

    async def event(self) -> bytes | None:
        """The next event's data (its ``data:`` lines joined); ``None`` at the end of the stream."""
        while True:
            end = self.text.find(b"\r\n\r\n")
            if end >= 0:
                block, self.text = self.text[:end], self.text[end + 4 :]
                lines = [line[6:] for line in block.split(b"\r\n") if line.startswith(b"data: ")]
                if lines:
                    return b"\n".join(lines)
                continue  # the opening comment
            if not await self._more():
                return None


class HttpHub:
    """A hub connection over Server-Sent Events or long polling, from raw HTTP requests."""

    def __init__(self, port: int, hub: str, transport: str, protocol: str) -> None:
        self.port = port
        self.hub = hub
        self.transport = transport
        self.protocol = protocol
        self.records = Records(protocol)
        self.messages: list[Any] = []
        self.statuses: list[int] = []
        self.ended = asyncio.Event()
        self.token = ""
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self, timeout: float = 10.0) -> HttpHub:
        self.token = (await negotiate(self.port, self.hub))["connectionToken"]
        path = f"/{self.hub}?id={self.token}"
        if self.transport == "ServerSentEvents":
            reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
            self._writer.write(request.encode())
            sse = SseReader(reader)
            assert await sse.start() == 200
            self._task = asyncio.get_running_loop().create_task(self._read_events(sse))
        else:
            assert (await http(self.port, "GET", path)).status == 200  # the first poll starts it
            self._task = asyncio.get_running_loop().create_task(self._poll(path))
        await self.post(handshake(self.protocol))
        async with asyncio.timeout(timeout):
            while not self.records.handshaken:
                if self.ended.is_set():
                    raise ConnectionError("ended before the handshake answer")
                await asyncio.sleep(0.01)
        return self

    def _feed(self, data: bytes) -> None:
        self.messages += self.records.feed(data)

    async def _read_events(self, sse: SseReader) -> None:
        try:
            while (data := await sse.event()) is not None:
                self._feed(data)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.ended.set()

    async def _poll(self, path: str) -> None:
        try:
            while True:
                response = await http(self.port, "GET", path, timeout=30)
                if response.status != 200:
                    break
                self._feed(response.body)
        except ConnectionError:
            pass
        finally:
            self.ended.set()

    def stop_reading(self) -> None:
        """Read no more of the response: buffers fill up to the server's writes (SSE)."""
        if self._task is not None:
            self._task.cancel()

    async def call(self, target: str, *arguments: Any, timeout: float = 10.0) -> Any:
        """Invoke and wait for the result."""
        ident = f"c{len(self.statuses)}"
        message = {"type": 1, "target": target, "arguments": list(arguments), "invocationId": ident}
        await self.post(encode(self.protocol, message))
        async with asyncio.timeout(timeout):
            while True:
                for m in self.messages:
                    if message_type(m) == 3 and completion_of(m)[0] == ident:
                        return completion_of(m)[1]
                await asyncio.sleep(0.01)

    async def post(self, data: bytes) -> int:
        status = (await http(self.port, "POST", f"/{self.hub}?id={self.token}", data)).status
        self.statuses.append(status)
        return status

    async def close(self) -> None:
        if self.transport == "LongPolling" and not self.ended.is_set():
            await http(self.port, "DELETE", f"/{self.hub}?id={self.token}")
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()


async def negotiate_many(port: int, hub: str, count: int, timeout: float = 30.0) -> list[str]:
    """``count`` negotiates on one keep-alive connection; the connection ids, in order."""
    ids = []
    request = (
        f"POST /{hub}/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(count):
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                assert head[0].split()[1] == "200", head
                length = next(int(line.split(":")[1]) for line in head if line.lower().startswith("content-length:"))
                ids.append(json.loads(await reader.readexactly(length))["connectionId"])
        finally:
            writer.close()
    return ids
