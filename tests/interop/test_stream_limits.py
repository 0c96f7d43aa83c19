"""Streams under attack, over real sockets under daphne and uvicorn (issue #13, "Streams").

A stream id reused, thousands of uploads left open by a client that vanishes, the bound on
open streams and uploads, and frames crafted against the parsers: nesting thousands deep,
declared lengths and container sizes far beyond the bytes sent, records in tiny frames.
What is left inside the server is read through ``stream_census`` (tasks on the event loop,
upload streams on the heap), so it counts what a connection that has gone left behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from .conftest import SERVERS
from .fuzz import (
    CLOSE_ERROR,
    PROBE_RESULT,
    RS,
    HubSocket,
    Socket,
    as_array,
    close_of,
    completion_of,
    handshake,
    write_varint,
)
from .live import LiveServer, rss_kib

pytestmark = pytest.mark.interop

HUB = "hubs/test"
PROTOCOLS = ("json", "messagepack")
BOUND = 32  # the default HUBS_MAX_STREAMS_PER_CONNECTION
IN_USE = "Stream ID 's' is already in use."


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[LiveServer]:
    live = LiveServer(request.param, log_dir, env={"HUBS_TEST_DB": str(live_db), "HUBS_CLIENT_TIMEOUT": "6"}).start()
    yield live
    live.stop()


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/" + HUB


def frame(protocol: str, message: dict[str, Any]) -> bytes:
    """Any client message (the fuzz encoder knows only a few kinds in MessagePack)."""
    if protocol == "json":
        return json.dumps(message, separators=(",", ":")).encode() + RS
    body = msgpack.packb(as_array(message))
    return write_varint(len(body)) + body


def send(hub: HubSocket, message: dict[str, Any]) -> None:
    hub.ws.send(frame(hub.protocol, message), binary=hub.protocol == "messagepack")


async def completions(hub: HubSocket, count: int, timeout: float = 30.0) -> dict[str, tuple[Any, str | None]]:
    """``invocationId -> (result, error)`` of the next ``count`` Completions."""
    found: dict[str, tuple[Any, str | None]] = {}
    async with asyncio.timeout(timeout):
        while len(found) < count:
            while hub.completions:
                ident, result, error = completion_of(hub.completions.pop(0))
                found[str(ident)] = (result, error)
            if len(found) < count:
                if hub.ws.closed:
                    raise ConnectionError(f"closed after {len(found)} of {count} completions")
                await asyncio.sleep(0.01)
    return found


async def census(hub: HubSocket) -> dict[str, int]:
    hub.invoke("stream_census", invocation_id="census")
    ident, result, error = completion_of(await hub.completion(timeout=30))
    assert (ident, error) == ("census", None)
    return result


async def census_until(hub: HubSocket, ready: Any, timeout: float = 30.0) -> dict[str, int]:
    """The census once ``ready`` holds for it; the last one seen otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        state = await census(hub)
        if ready(state) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.1)


async def served(server: LiveServer, protocol: str = "json") -> None:
    """A new client gets an answer: the server is up and its loop is free."""
    hub = await HubSocket.connect(ws_url(server), protocol)
    hub.invoke("echo", PROBE_RESULT, invocation_id="p")
    assert completion_of(await hub.completion(timeout=30)) == ("p", PROBE_RESULT, None)
    await hub.ws.close()


# --- stream ids in use -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reused_stream_ids_are_refused_and_nothing_remains_once_the_client_leaves(
    server: LiveServer, protocol: str
) -> None:
    """Each reuse replaced the first upload: 5,000 reuses left 4,999 methods waiting forever."""
    reuses = 500
    observer = await HubSocket.connect(ws_url(server))
    before = await census_until(observer, lambda state: state == {"tasks": 0, "uploads": 0})
    assert before == {"tasks": 0, "uploads": 0}
    attacker = await HubSocket.connect(ws_url(server), protocol)
    for n in range(reuses):
        send(
            attacker, {"type": 1, "invocationId": f"u{n}", "target": "upload_sum", "arguments": [], "streamIds": ["s"]}
        )
    refused = await completions(attacker, reuses - 1)
    assert set(refused) == {f"u{n}" for n in range(1, reuses)}
    assert {error for _, error in refused.values()} == {IN_USE}
    assert await census(observer) == {"tasks": 1, "uploads": 1}  # the first upload, still open
    attacker.ws.abort()  # gone, without a Close message
    after = await census_until(observer, lambda state: state == {"tasks": 0, "uploads": 0})
    assert after == {"tasks": 0, "uploads": 0}
    await observer.ws.close()


# --- a client that vanishes with thousands of uploads open ----------------------------------------------


@pytest.mark.parametrize("kind", SERVERS)
async def test_thousands_of_open_uploads_end_with_a_log_line_when_the_client_vanishes(
    make_server: Any, kind: str
) -> None:
    """One shared exception, re-raised and logged with its traceback per upload: 3,000 wrote 650 MB."""
    uploads = 3000
    server = make_server(kind, HUBS_MAX_STREAMS_PER_CONNECTION=str(uploads + 10))
    bystander = await HubSocket.connect(ws_url(server))
    attacker = await HubSocket.connect(ws_url(server), "messagepack")
    for n in range(uploads):
        send(
            attacker,
            {"type": 1, "invocationId": f"u{n}", "target": "upload_sum", "arguments": [], "streamIds": [f"s{n}"]},
        )
    parked = await census_until(bystander, lambda state: state["uploads"] >= uploads, timeout=60)
    assert parked == {"tasks": uploads, "uploads": uploads}
    log_before = len(server.log().encode())
    attacker.ws.abort()
    after = await census_until(bystander, lambda state: state == {"tasks": 0, "uploads": 0}, timeout=60)
    assert after == {"tasks": 0, "uploads": 0}
    bystander.invoke("echo", "still served", invocation_id="b")
    assert completion_of(await bystander.completion(timeout=30)) == ("b", "still served", None)
    grown = server.log().encode()[log_before:]
    assert b"Traceback" not in grown, grown[:2000]
    assert len(grown) < 16 * 1024, grown[:2000]  # a few lines for the connection, none per upload
    await bystander.ws.close()


# --- the bound on open streams and uploads ----------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_streams_past_the_bound_get_an_error_and_the_connection_works_on(
    server: LiveServer, protocol: str
) -> None:
    def refusal(target: str) -> str:
        return (
            f"Failed to invoke '{target}' because it would open more than {BOUND} streams "
            "on this connection at once (HUBS_MAX_STREAMS_PER_CONNECTION)."
        )

    hub = await HubSocket.connect(ws_url(server), protocol)
    for n in range(BOUND - 1):
        send(hub, {"type": 1, "invocationId": f"u{n}", "target": "upload_sum", "arguments": [], "streamIds": [f"s{n}"]})
    send(hub, {"type": 4, "invocationId": "t", "target": "counter", "arguments": [1000000, 1.0]})
    send(hub, {"type": 1, "invocationId": "over", "target": "upload_sum", "arguments": [], "streamIds": ["x"]})
    send(hub, {"type": 4, "invocationId": "over-stream", "target": "counter", "arguments": [3]})
    refused = await completions(hub, 2)
    assert refused == {"over": (None, refusal("upload_sum")), "over-stream": (None, refusal("counter"))}
    send(hub, {"type": 1, "invocationId": "plain", "target": "add", "arguments": [2, 3]})
    assert await completions(hub, 1) == {"plain": (5, None)}  # plain invocations do not count
    send(hub, {"type": 2, "invocationId": "s0", "item": 7})
    send(hub, {"type": 3, "invocationId": "s0"})
    assert await completions(hub, 1) == {"u0": (7, None)}
    send(hub, {"type": 4, "invocationId": "room", "target": "counter", "arguments": [3]})
    assert await completions(hub, 1) == {"room": (None, None)}
    send(hub, {"type": 5, "invocationId": "t"})
    assert await completions(hub, 1) == {"t": (None, None)}
    await hub.ws.close()
    await served(server, protocol)


# --- frames crafted against the parsers -------------------------------------------------------------------


def _mp(body: bytes) -> bytes:
    return write_varint(len(body)) + body


#: An Invocation of ``echo`` up to its one argument, whose bytes follow.
ECHO_HEAD = b"\x95\x01\x80\xc0\xa4echo\x91"

HOSTILE: dict[str, list[tuple[bytes, bool]]] = {
    "json-arrays-10000-deep": [
        (b'{"type":1,"target":"echo","arguments":[' + b"[" * 10000 + b"]" * 10000 + b"]}" + RS, False)
    ],
    "json-objects-5000-deep": [
        (b'{"type":1,"target":"echo","arguments":[' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"]}" + RS, False)
    ],
    "json-record-without-end-past-the-size": [(b'{"type":1,"target":"echo","arguments":["' + b"x" * 40000, False)],
    "msgpack-arrays-10000-deep": [(_mp(ECHO_HEAD + b"\x91" * 10000 + b"\xc0"), True)],
    "msgpack-maps-5000-deep": [(_mp(ECHO_HEAD + b"\x81\xa1a" * 5000 + b"\xc0"), True)],
    "msgpack-array32-of-4-billion-items": [(_mp(ECHO_HEAD + b"\xdd\xff\xff\xff\xff" + b"\xc0" * 100), True)],
    "msgpack-map32-of-4-billion-pairs": [(_mp(ECHO_HEAD + b"\xdf\xff\xff\xff\xff" + b"\xc0" * 100), True)],
    "msgpack-str32-of-4-gib": [(_mp(ECHO_HEAD + b"\xdb\xff\xff\xff\xff" + b"a" * 100), True)],
    "msgpack-bin32-of-4-gib": [(_mp(ECHO_HEAD + b"\xc6\xff\xff\xff\xff" + b"a" * 100), True)],
    "msgpack-declared-length-2-gib": [(b"\xff\xff\xff\xff\x07" + b"\x00" * 64, True)],
    "msgpack-declared-length-past-the-size": [(write_varint(32 * 1024 + 1) + b"\x91", True)],
}


def protocol_of(case: str) -> str:
    return "json" if case.startswith("json") else "messagepack"


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_frames_get_the_error_close_and_the_server_serves_on(server: LiveServer, case: str) -> None:
    protocol = protocol_of(case)
    ws = await Socket.connect(ws_url(server))
    hub = HubSocket(ws, protocol)
    ws.send(handshake(protocol))
    data, _ = await ws.recv()
    assert data == b"{}" + RS
    ws.on_frame = lambda data, binary: hub.on(data)
    for data, binary in HOSTILE[case]:
        ws.send(data, binary)
    async with asyncio.timeout(30):
        await asyncio.shield(ws.lost)
    assert [close_of(close) for close in hub.closes] == [CLOSE_ERROR]
    assert hub.completions == []
    await served(server, protocol)


async def test_hostile_frames_cost_bounded_memory(server: LiveServer) -> None:
    """Claimed sizes (4 billion items, 2 GiB, 4 GiB strings) are never allocated: RSS grows little."""
    rounds = 10
    before = rss_kib(server)
    for _ in range(rounds):
        for case in sorted(HOSTILE):
            protocol = protocol_of(case)
            ws = await Socket.connect(ws_url(server))
            ws.send(handshake(protocol))
            await ws.recv()
            for data, binary in HOSTILE[case]:
                ws.send(data, binary)
            async with asyncio.timeout(30):
                await asyncio.shield(ws.lost)
    grown = rss_kib(server) - before
    assert grown < 64 * 1024, f"RSS grew by {grown} KiB"  # one claimed array32 alone would be 32 GiB
    await served(server)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_record_in_thousands_of_one_byte_frames_is_read_once_whole(server: LiveServer, protocol: str) -> None:
    """Tiny frames grow the buffer a byte at a time; the record is answered, the buffer then empty."""
    value = "y" * 20000
    data = frame(protocol, {"type": 1, "invocationId": "tiny", "target": "echo", "arguments": [value]})
    hub = await HubSocket.connect(ws_url(server), protocol)
    for start in range(0, len(data), 1):
        hub.ws.send(data[start : start + 1], binary=protocol == "messagepack")
    assert await completions(hub, 1, timeout=120) == {"tiny": (value, None)}
    # The same record again, as one WebSocket message in one-byte continuation frames.
    again = frame(protocol, {"type": 1, "invocationId": "cont", "target": "echo", "arguments": [value]})
    hub.ws.send_fragments([again[i : i + 1] for i in range(len(again))], binary=protocol == "messagepack")
    assert await completions(hub, 1, timeout=120) == {"cont": (value, None)}
    await hub.ws.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_32_kib_that_unpack_to_many_containers_are_answered(server: LiveServer, protocol: str) -> None:
    """About 10,000 (JSON) or 30,000 (MessagePack) empty lists in one record: bounded by the size limit."""
    if protocol == "json":
        count = 10000
        data = (
            b'{"type":1,"invocationId":"many","target":"echo","arguments":[[' + b",".join([b"[]"] * count) + b"]]}" + RS
        )
    else:
        count = 30000
        body = b"\x95\x01\x80\xa4many\xa4echo\x91" + b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count
        data = _mp(body)
    assert len(data) < 32 * 1024
    hub = await HubSocket.connect(ws_url(server), protocol)
    hub.ws.send(data, binary=protocol == "messagepack")
    assert await completions(hub, 1) == {"many": ([[]] * count, None)}
    await hub.ws.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_length_prefixes_without_their_bodies_hold_little_and_time_out(server: LiveServer, protocol: str) -> None:
    """A record that never ends is held as the bytes that came (the spec says wait), then the client times out.

    The client timeout starts with the client's first Ping, as in the official server, so
    each socket pings first: a client that never pings is held (at most HUBS_MAX_MESSAGE_SIZE
    of it) until its socket goes.
    """
    sockets = 50
    before = rss_kib(server)
    opened = []
    for _ in range(sockets):
        hub = await HubSocket.connect(ws_url(server), protocol)
        hub.send({"type": 6})
        if protocol == "json":
            hub.ws.send(b'{"type":1,"target":"echo","arguments":["' + b"z" * 16000, False)
        else:
            hub.ws.send(write_varint(32000) + b"\x95" + b"\x00" * 16000, True)
        opened.append(hub)
    await served(server, protocol)  # the half records block no one
    grown = rss_kib(server) - before
    assert grown < sockets * 1024, f"RSS grew by {grown} KiB for {sockets} sockets of 16 KB each"
    async with asyncio.timeout(60):  # HUBS_CLIENT_TIMEOUT is 6 s here
        await asyncio.gather(*(asyncio.shield(hub.ws.lost) for hub in opened))
    assert all(len(hub.closes) == 1 for hub in opened)
